package config

import (
	"flag"
	"fmt"
	"net/url"

	"github.com/camrec/camrec/pipeline/restream"
)

// Restream is a camera's publication to a media server. Its fields are
// inlined into the camera's YAML mapping.
type Restream struct {
	// URL of the server's path (rtsp://, rtsps://, rtmp://, rtmps://,
	// srt://); "" = no restream. It may hold a password: then the config
	// file must be private.
	URL string `yaml:"restream"`
	// Mode is always (default) or on_demand.
	Mode string `yaml:"restream_mode"`
}

// Enabled reports whether the camera is restreamed.
func (r Restream) Enabled() bool { return r.URL != "" }

// holdsSecret reports whether the URL carries a password or an SRT
// passphrase.
func (r Restream) holdsSecret() bool {
	u, err := url.Parse(r.URL)
	if err != nil {
		return false
	}
	_, pw := u.User.Password()
	return pw || u.Query().Has("passphrase")
}

// restreamFlags registers the restream flags on fs and returns the function
// that applies those the user set: -restream to the first camera only (two
// cameras cannot publish to one path), -restream-mode to all.
func restreamFlags(fs *flag.FlagSet) func(r *Restream, first bool, set map[string]bool) {
	u := fs.String("restream", "", "publish the camera to a media server (MediaMTX): rtsp://host:8554/path, rtmp://..., srt://...; encoded once for the restream and the recording")
	mode := fs.String("restream-mode", restream.ModeAlways, "always, or on_demand (while a POST .../restream/demand request is open, e.g. MediaMTX's runOnDemand)")
	return func(r *Restream, first bool, set map[string]bool) {
		if first && set["restream"] {
			r.URL = *u
		}
		if set["restream-mode"] || r.Mode == "" {
			r.Mode = *mode
		}
	}
}

// validate checks the section; errors never show the URL's secrets.
func (r Restream) validate() error {
	if r.Mode != restream.ModeAlways && r.Mode != restream.ModeOnDemand {
		return fmt.Errorf("restream_mode %q: want always or on_demand", r.Mode)
	}
	if !r.Enabled() {
		return nil
	}
	if _, err := restream.ParseURL(r.URL); err != nil {
		return fmt.Errorf("restream: %w", err)
	}
	return nil
}

// restreamSecret reports whether a camera's restream URL holds a secret.
func restreamSecret(cams []Camera) bool {
	for _, c := range cams {
		if c.Restream.holdsSecret() {
			return true
		}
	}
	return false
}
