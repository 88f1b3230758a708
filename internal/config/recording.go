package config

import "flag"

// Recording is the recording-behaviour part of a camera's settings
// (pre-record, segments, retention, ...). Its fields are inlined into the
// camera's YAML mapping.
type Recording struct{}

// recordingFlags registers the recording flags on fs and returns the
// function that applies the flags the user set (set) over a camera's file
// settings and defaults.
func recordingFlags(fs *flag.FlagSet) func(r *Recording, set map[string]bool) {
	return func(r *Recording, set map[string]bool) {}
}

// validate checks r; cam is the whole camera for cross-checks.
func (r *Recording) validate(cam *Camera) error { return nil }
