package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/hooks"
)

// DefaultHookTimeout is how long a hook may run before it is killed:
// hooks', defined there once.
const DefaultHookTimeout = hooks.DefaultTimeout

// Hooks is the hooks part of a camera's settings: programs run when
// something happens to the camera (like Motion's on_movie_end). Its fields
// are inlined into the camera's YAML mapping.
type Hooks struct {
	// OnRecordingStart runs on recording_started.
	OnRecordingStart Command `yaml:"on_recording_start"`
	// OnRecordingEnd runs for each file that ends: segment_closed,
	// recording_stopped and recording_failed.
	OnRecordingEnd Command `yaml:"on_recording_end"`
	// OnCameraLost runs on camera_lost, OnCameraFound on camera_found.
	OnCameraLost  Command `yaml:"on_camera_lost"`
	OnCameraFound Command `yaml:"on_camera_found"`
	// OnMotionStart runs on motion_started, OnMotionEnd on motion_ended.
	OnMotionStart Command `yaml:"on_motion_start"`
	OnMotionEnd   Command `yaml:"on_motion_end"`
	// HookTimeout is how long one of them may run before its process
	// group is killed; 0 takes the global hook_timeout.
	HookTimeout Duration `yaml:"hook_timeout"`
}

// Notify is the global part of the hooks settings: the default hook
// timeout and the webhook. Its fields are inlined into the top level.
type Notify struct {
	// HookTimeout is every camera's hook_timeout unless it sets its own.
	HookTimeout Duration `yaml:"hook_timeout"`
	// WebhookURL receives every event (or those of WebhookEvents) as a
	// JSON POST. It may hold a secret (user:password, a token in the
	// query): it is never logged whole.
	WebhookURL string `yaml:"webhook_url"`
	// WebhookEvents limits the webhook to these event types.
	WebhookEvents []string `yaml:"webhook_events"`
	// WebhookSnapshot attaches a motion event's snapshot: the POST is
	// multipart/form-data with the JSON as part "event" and the JPEG as
	// part "snapshot".
	WebhookSnapshot bool `yaml:"webhook_snapshot"`
}

// Command is a program and its arguments, run without a shell. YAML gives
// it as a list (argv) or as a string: the program's path alone, never
// split on spaces.
type Command []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*c = Command{n.Value}
		return nil
	case yaml.SequenceNode:
		var argv []string
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a program path or a list of strings (program, arguments...)", item.Line)
			}
			argv = append(argv, item.Value)
		}
		*c = argv
		return nil
	}
	return fmt.Errorf("line %d: want a program path or a list of strings (program, arguments...)", n.Line)
}

// applyDefaults fills the camera's hook timeout from the global one.
func (h *Hooks) applyDefaults(global Duration) {
	if h.HookTimeout == 0 {
		h.HookTimeout = global
	}
}

// Commands lists the hooks that are configured, by their YAML key.
func (h *Hooks) Commands() map[string]Command {
	m := map[string]Command{}
	for key, c := range map[string]Command{
		"on_recording_start": h.OnRecordingStart, "on_recording_end": h.OnRecordingEnd,
		"on_camera_lost": h.OnCameraLost, "on_camera_found": h.OnCameraFound,
		"on_motion_start": h.OnMotionStart, "on_motion_end": h.OnMotionEnd,
	} {
		if len(c) > 0 {
			m[key] = c
		}
	}
	return m
}

func (h *Hooks) validate() error {
	for _, key := range []string{"on_recording_start", "on_recording_end", "on_camera_lost", "on_camera_found", "on_motion_start", "on_motion_end"} {
		if c, ok := h.Commands()[key]; ok {
			if err := c.validate(); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	return validateHookTimeout(h.HookTimeout)
}

func validateHookTimeout(d Duration) error {
	if d < Duration(100*time.Millisecond) || d > Duration(time.Hour) {
		return fmt.Errorf("hook_timeout %v: want 100ms to 1h", time.Duration(d))
	}
	return nil
}

// validate checks that the program is an absolute path to an executable
// file: hooks are run without a shell and without a PATH search.
func (c Command) validate() error {
	prog := c[0]
	switch {
	case prog == "":
		return errors.New("the program is empty")
	case !filepath.IsAbs(prog):
		return fmt.Errorf("%q: want the program's absolute path (e.g. /usr/local/bin/upload); it is run without a shell", prog)
	}
	fi, err := os.Stat(prog)
	switch {
	case err != nil:
		return fmt.Errorf("%q: %w", prog, errors.Unwrap(err))
	case fi.IsDir():
		return fmt.Errorf("%q: is a directory, not a program", prog)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%q: is not executable (chmod +x)", prog)
	}
	return nil
}

func (n *Notify) validate() error {
	if n.HookTimeout != 0 {
		if err := validateHookTimeout(n.HookTimeout); err != nil {
			return err
		}
	}
	if n.WebhookURL != "" {
		u, err := url.Parse(n.WebhookURL)
		// The URL may hold a secret: the errors name its parts, never it.
		switch {
		case err != nil:
			return errors.New("webhook_url: not a URL")
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("webhook_url: scheme %q: want http or https", u.Scheme)
		case u.Host == "":
			return errors.New("webhook_url: no host")
		case u.Fragment != "":
			return errors.New("webhook_url: a #fragment is never sent: remove it")
		}
	}
	for _, t := range n.WebhookEvents {
		if !slices.Contains(events.Types(), events.Type(t)) {
			return fmt.Errorf("webhook_events: %q is not an event type (want one of %v)", t, events.Types())
		}
	}
	if len(n.WebhookEvents) > 0 && n.WebhookURL == "" {
		return errors.New("webhook_events: set webhook_url too")
	}
	return nil
}

// holdsSecret reports whether the webhook URL carries credentials
// (user:password or a query string, where tokens usually go), which makes
// the config file a secret like the auth: section does.
func (n *Notify) holdsSecret() bool {
	u, err := url.Parse(n.WebhookURL)
	return err == nil && (u.User != nil || u.RawQuery != "")
}
