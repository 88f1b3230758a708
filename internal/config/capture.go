package config

import "flag"

// Capture is the V4L2 capture part of a camera's settings. Its fields are
// inlined into the camera's YAML mapping.
type Capture struct{}

// captureFlags registers the capture flags on fs and returns the function
// that applies the flags the user set (set) over a camera's file settings
// and defaults.
func captureFlags(fs *flag.FlagSet) func(c *Capture, set map[string]bool) {
	return func(c *Capture, set map[string]bool) {}
}

func (c *Capture) validate() error { return nil }
