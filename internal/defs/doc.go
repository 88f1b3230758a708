// Package defs is camrec's shared vocabulary, at the bottom of the import
// graph: the sentinel errors callers branch on (and the API maps to HTTP
// codes in one place), RootCause, RoundTo for figures in status and logs,
// and Backoff, the one restart policy. It imports nothing of camrec, so
// every package — pipeline, the adapters in internal/, api — may import it.
package defs
