// Package store keeps the recordings on disk: the Catalog lists, opens and
// deletes them, rebuilds itself from the record dir at start-up, applies
// retention, and has a write side that the recorder (package record) uses
// to reserve, describe, link and forget the files it writes.
//
// A recording is a file <dir>/<camera>/<id> (the ID is the file name) and a
// hidden sidecar beside it, .<id>.json, which says what the file cannot.
//
// Where things are:
//
//	recording.go     Recording as listed, and its states
//	catalog.go       Catalog: List, Get, Delete; IDs and camera names
//	catalog_files.go opening a recording to serve it (no links, inside the dir)
//	catalog_scan.go  rebuilding from disk at start-up, interrupted recordings
//	catalog_gone.go  noticing files moved or deleted behind camrec's back (a hook's mv)
//	catalog_write.go the write side: Reserve, Put, Link, Forget, and the remux bookkeeping
//	catalog_upload.go the upload queue (pending = finished, final, no uploaded_at),
//	                 marking uploads, dropping the local copy (remote-only)
//	sidecar.go       the sidecar, written atomically; CheckRecordDir
//	retention.go     Retention (keep, max disk, min free) and Prune
//	probe.go         reading a file's duration, codec and size with ffprobe
package store
