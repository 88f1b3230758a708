package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestHooks: the real camrec with a camera whose on_recording_start hook
// sleeps forever (hook_timeout 500ms) and whose on_recording_end hook
// writes its environment to a file, and a webhook on loopback. A toggled
// recording completes normally; the start hook is killed at its timeout
// with its process group; the end hook sees recording_stopped and the
// recording's file on disk, and none of camrec's secrets; the webhook gets
// the recording_stopped JSON; the log never shows the webhook's token.
func TestHooks(t *testing.T) {
	requireTool(t, "ffmpeg")
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "start.pid")
	envFile := filepath.Join(dir, "end.env")
	writeScript := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	startHook := writeScript("start.sh", `echo $$ > "`+pidFile+`.tmp" && mv "`+pidFile+`.tmp" "`+pidFile+`"
exec sleep 1000
`)
	endHook := writeScript("end.sh", `env > "`+envFile+`.tmp" && mv "`+envFile+`.tmp" "`+envFile+`"`+"\n")

	var (
		mu     sync.Mutex
		bodies []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	cfg := filepath.Join(dir, "camrec.yaml")
	// The webhook URL holds a token: the file must be private.
	if err := os.WriteFile(cfg, []byte(`webhook_url: `+hook.URL+`/camrec?token=e2e-s3cret
webhook_events: [recording_stopped]
cameras:
  - name: cam0
    device: "test:"
    size: 640x360
    container: mkv
    codec: copy
    hook_timeout: 500ms
    on_recording_start: `+startHook+`
    on_recording_end: [`+endHook+`, --unused-argument]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrecEnv(t, []string{"CAMREC_SECRET_TOKEN=do-not-leak"}, "-config", cfg)
	waitStreaming(t, d)

	sent := time.Now()
	rec := record(t, d, "cam0", 3*time.Second)
	span := time.Since(sent).Seconds()
	if rec.State != "complete" {
		t.Fatalf("catalogue entry: %+v", rec)
	}
	file := filepath.Join(d.RecordDir, "cam0", rec.ID)
	p := ffprobe(t, file)
	t.Logf("ffprobe: %+v", p)
	if p.Duration < 2.7 || p.Duration > span+0.3 || p.Frames < 80 || float64(p.Frames) > span*30+8 {
		t.Errorf("recording %.3f s, %d frames; want 2.7 s to %.3f s, 80 to %.0f frames", p.Duration, p.Frames, span+0.3, span*30+8)
	}

	// The start hook: killed at its timeout, its process group gone.
	waitFor(t, 20*time.Second, "the start hook to be killed", func() bool {
		return strings.Contains(d.Log(), `msg="hook timed out: killed with its process group" camera=cam0 hook=on_recording_start`)
	})
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, 20*time.Second, "the start hook's process group to be gone", func() bool {
		return pid > 0 && errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH)
	})
	if !strings.Contains(d.Log(), "timeout=500ms") {
		t.Errorf("the timeout is not logged:\n%s", d.Log())
	}

	// The end hook: recording_stopped, the file on disk.
	waitFor(t, 20*time.Second, "the end hook's environment", func() bool {
		_, err := os.Stat(envFile)
		return err == nil
	})
	env := map[string]string{}
	f, err := os.Open(envFile)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		env[k] = v
	}
	f.Close()
	if env["CAMREC_EVENT"] != "recording_stopped" || env["CAMREC_FILE"] != file || env["CAMREC_RECORDING_ID"] != rec.ID ||
		env["CAMREC_CAMERA"] != "cam0" || env["CAMREC_HOOK"] != "on_recording_end" || env["CAMREC_FILE_URL"] != rec.FileURL {
		t.Errorf("end hook environment %v; want recording_stopped of %s", env, file)
	}
	if _, ok := env["CAMREC_SECRET_TOKEN"]; ok {
		t.Errorf("camrec's environment leaked into the hook: %v", env)
	}

	// The webhook: recording_stopped only.
	waitFor(t, 20*time.Second, "the webhook's POST", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) > 0
	})
	mu.Lock()
	posted := append([]string(nil), bodies...)
	mu.Unlock()
	var got struct {
		Type        string `json:"type"`
		RecordingID string `json:"recording_id"`
	}
	err = json.Unmarshal([]byte(posted[0]), &got)
	if err != nil || len(posted) != 1 || got.Type != "recording_stopped" || got.RecordingID != rec.ID {
		t.Errorf("webhook got %q (%v); want one recording_stopped of %s", posted, err, rec.ID)
	}
	if strings.Contains(d.Log(), "e2e-s3cret") {
		t.Errorf("the log shows the webhook's token:\n%s", d.Log())
	}
}
