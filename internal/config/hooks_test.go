package config

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestHookSettings(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	spaced := filepath.Join(dir, "my hook")
	if err := os.WriteFile(spaced, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	type result struct {
		hooks  []Hooks
		notify Notify
	}
	tests := []struct {
		name string
		yaml string
		mode os.FileMode
		want result
		err  string // a substring of the error; "" for none
	}{
		{name: "defaults", yaml: "cameras: [{name: a}]", want: result{
			hooks: []Hooks{{HookTimeout: Duration(30 * time.Second)}}, notify: Notify{HookTimeout: Duration(30 * time.Second)}}},
		{name: "string and list, global timeout, camera timeout", yaml: `hook_timeout: 5s
webhook_url: https://example.net/camrec
webhook_events: [recording_stopped, camera_lost]
cameras:
  - name: a
    on_recording_end: [` + prog + `, --bucket, "two words"]
    on_recording_start: ` + prog + `
    on_camera_lost: "` + spaced + `"
    on_camera_found: [` + prog + `]
  - name: b
    device: "test:"
    hook_timeout: 300ms
`, want: result{
			hooks: []Hooks{
				{OnRecordingEnd: Command{prog, "--bucket", "two words"}, OnRecordingStart: Command{prog},
					OnCameraLost: Command{spaced}, OnCameraFound: Command{prog}, HookTimeout: Duration(5 * time.Second)},
				{HookTimeout: Duration(300 * time.Millisecond)},
			},
			notify: Notify{HookTimeout: Duration(5 * time.Second), WebhookURL: "https://example.net/camrec",
				WebhookEvents: []string{"recording_stopped", "camera_lost"}},
		}},
		{name: "secret URL in a private file", mode: 0o600, yaml: "webhook_url: https://u:p@example.net/x?token=abc\ncameras: [{name: a}]",
			want: result{hooks: []Hooks{{HookTimeout: Duration(30 * time.Second)}},
				notify: Notify{HookTimeout: Duration(30 * time.Second), WebhookURL: "https://u:p@example.net/x?token=abc"}}},

		{name: "relative program", yaml: "cameras: [{name: a, on_recording_end: upload.sh}]",
			err: `camera a: on_recording_end: "upload.sh": want the program's absolute path`},
		{name: "missing program", yaml: "cameras: [{name: a, on_camera_lost: [/nonexistent/hook, x]}]",
			err: `camera a: on_camera_lost: "/nonexistent/hook": no such file or directory`},
		{name: "not executable", yaml: "cameras: [{name: a, on_camera_found: " + plain + "}]",
			err: `camera a: on_camera_found: "` + plain + `": is not executable`},
		{name: "directory", yaml: "cameras: [{name: a, on_recording_start: " + dir + "}]",
			err: `camera a: on_recording_start: "` + dir + `": is a directory`},
		{name: "a string is not split", yaml: "cameras: [{name: a, on_recording_end: " + prog + " --flag}]",
			err: `on_recording_end: "` + prog + ` --flag": no such file or directory`},
		{name: "empty program", yaml: `cameras: [{name: a, on_recording_end: [""]}]`,
			err: "camera a: on_recording_end: the program is empty"},
		{name: "nested list", yaml: "cameras: [{name: a, on_recording_end: [[a]]}]",
			err: "want a program path or a list of strings"},
		{name: "mapping", yaml: "cameras: [{name: a, on_recording_end: {a: b}}]",
			err: "want a program path or a list of strings"},
		{name: "camera timeout too short", yaml: "cameras: [{name: a, hook_timeout: 10ms}]",
			err: "camera a: hook_timeout 10ms: want 100ms to 1h"},
		{name: "global timeout too long", yaml: "hook_timeout: 2h\ncameras: [{name: a}]",
			err: "hook_timeout 2h0m0s: want 100ms to 1h"},
		{name: "webhook scheme", yaml: "webhook_url: ftp://example.net/x\ncameras: [{name: a}]",
			err: `webhook_url: scheme "ftp": want http or https`},
		{name: "webhook without host", yaml: "webhook_url: http:///x\ncameras: [{name: a}]",
			err: "webhook_url: no host"},
		{name: "webhook not a URL, not echoed", mode: 0o600, yaml: "webhook_url: \"http://u:s3cret@[::1\"\ncameras: [{name: a}]",
			err: "webhook_url: not a URL"},
		{name: "webhook event unknown", yaml: "webhook_url: http://h/x\nwebhook_events: [recording_ended]\ncameras: [{name: a}]",
			err: `webhook_events: "recording_ended" is not an event type`},
		{name: "webhook events without URL", yaml: "webhook_events: [camera_lost]\ncameras: [{name: a}]",
			err: "webhook_events: set webhook_url too"},
		{name: "secret URL in a world-readable file", mode: 0o644, yaml: "webhook_url: https://example.net/x?token=abc\ncameras: [{name: a}]",
			err: "config file has a webhook_url with credentials (user:password or a query string):"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "camrec.yaml")
			mode := tt.mode
			if mode == 0 {
				mode = 0o644
			}
			if err := os.WriteFile(p, []byte(tt.yaml), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil { // past the umask
				t.Fatal(err)
			}
			cfg, err := Load([]string{"-config", p}, noEnv, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "token=abc") {
					t.Errorf("the error echoes the webhook's secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got result
			for _, c := range cfg.Cameras {
				got.hooks = append(got.hooks, c.Hooks)
			}
			got.notify = cfg.Notify
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
