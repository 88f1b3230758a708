package hooks

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/testutil"
)

// patience is how long a test waits for a condition: never a claim of
// speed, only the test's patience on a busy machine.
const patience = 20 * time.Second

// started is a runner running on a real bus, with its log.
type started struct {
	bus  *events.Bus
	r    *Runner
	log  *testutil.SyncBuffer
	stop func() // cancels Run and waits for it to return
}

// start makes a runner for cfg (with a fresh bus and a captured log),
// lets tweak change it, and runs it until the test ends or stop.
func start(t *testing.T, cfg Config, tweak func(*Runner)) *started {
	t.Helper()
	s := &started{bus: events.NewBus(16), log: &testutil.SyncBuffer{}}
	cfg.Log = slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.r = New(cfg, s.bus)
	if tweak != nil {
		tweak(s.r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.r.Run(ctx) }()
	stopped := false
	s.stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(patience):
			t.Fatalf("Run did not return within %v of its context's end", patience)
		}
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("runner log:\n%s", s.log.String())
		}
	})
	return s
}

// publish publishes e and returns it as the bus numbered and dated it.
func (s *started) publish(t *testing.T, e events.Event) events.Event {
	t.Helper()
	_, _, sub := s.bus.Subscribe(0, 1)
	defer sub.Close()
	s.bus.Publish(e)
	return <-sub.Events()
}

// script writes a /bin/sh script to dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, patience, what, cond)
}

// TestHookGetsEventInEnvAndStdin: a script run for recording_stopped finds
// the event in CAMREC_* variables (and of camrec's environment only PATH,
// HOME, LANG, LC_ALL, TZ), its JSON on stdin, and its arguments unsplit.
func TestHookGetsEventInEnvAndStdin(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	prog := script(t, dir, "end.sh", `env > "`+out+`.env"
cat > "`+out+`.json"
for a in "$@"; do echo "$a"; done > "`+out+`.args"
echo uploaded
`)
	camrecEnv := map[string]string{"PATH": "/usr/bin:/bin", "HOME": "/var/lib/camrec", "LANG": "C.UTF-8",
		"CAMREC_TOKEN": "secret-token", "AWS_SECRET_ACCESS_KEY": "secret-key", "CREDENTIALS_DIRECTORY": "/run/credentials"}
	s := start(t, Config{
		Cameras: []Camera{{Name: "cam0", OnRecordingEnd: []string{prog, "--bucket", "two words"}, Timeout: patience}},
		Getenv:  func(k string) string { return camrecEnv[k] },
	}, nil)
	e := s.publish(t, events.Event{Type: events.RecordingStopped, Camera: "cam0", RecordingID: "cam0-20261202-104500.mp4",
		Path: "/srv/camrec/cam0/cam0-20261202-104500.mp4", DurationS: 5.5, Bytes: 123456})
	await(t, "the hook to finish", func() bool { return s.r.stats.succeeded.Load() == 1 })

	env := readEnv(t, out+".env")
	for _, k := range []string{"PWD", "SHLVL", "_", "OLDPWD"} { // the shell's own
		delete(env, k)
	}
	want := map[string]string{
		"PATH": "/usr/bin:/bin", "HOME": "/var/lib/camrec", "LANG": "C.UTF-8",
		"CAMREC_HOOK":         "on_recording_end",
		"CAMREC_EVENT":        "recording_stopped",
		"CAMREC_EVENT_ID":     strconv.FormatUint(e.ID, 10),
		"CAMREC_TIME":         e.Time.Format(time.RFC3339Nano),
		"CAMREC_CAMERA":       "cam0",
		"CAMREC_RECORDING_ID": "cam0-20261202-104500.mp4",
		"CAMREC_FILE":         "/srv/camrec/cam0/cam0-20261202-104500.mp4",
		"CAMREC_FILE_URL":     "/api/v1/recordings/cam0-20261202-104500.mp4/file",
		"CAMREC_DURATION_S":   "5.5",
		"CAMREC_BYTES":        "123456",
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("the hook's environment:\n%v\nwant\n%v", env, want)
	}
	if _, err := time.Parse(time.RFC3339, env["CAMREC_TIME"]); err != nil {
		t.Errorf("CAMREC_TIME: %v", err)
	}
	gotJSON, err := os.ReadFile(out + ".json")
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(e.Body())
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("stdin %s\nwant %s", gotJSON, wantJSON)
	}
	if args, _ := os.ReadFile(out + ".args"); string(args) != "--bucket\ntwo words\n" {
		t.Errorf("arguments %q, want --bucket and \"two words\"", args)
	}
	log := s.log.String()
	if !strings.Contains(log, `level=INFO msg="hook ran" camera=cam0 hook=on_recording_end program=`+prog) ||
		!strings.Contains(log, "exit_code=0 output=uploaded") {
		t.Errorf("log lacks the hook's run and output:\n%s", log)
	}
	if strings.Contains(log, "two words") {
		t.Errorf("the log shows the hook's arguments (they may hold a secret):\n%s", log)
	}
}

// readEnv reads `env` output (NAME=value lines).
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		env[k] = v
	}
	return env
}

// TestHooksByEvent: each event type runs its hook (or none), with
// CAMREC_EVENT telling on_recording_end's three apart.
func TestHooksByEvent(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "ran")
	prog := script(t, dir, "hook.sh", `echo "$CAMREC_HOOK $CAMREC_EVENT $CAMREC_STATE$CAMREC_ERROR" >> "`+log+`"`+"\n")
	s := start(t, Config{Cameras: []Camera{
		{Name: "cam0", OnRecordingStart: []string{prog}, OnRecordingEnd: []string{prog}, OnCameraLost: []string{prog},
			OnCameraFound: []string{prog}, Timeout: patience},
		{Name: "cam1"}, // no hooks
	}}, nil)
	// One at a time, so that the file's lines come in order.
	ran := uint64(0)
	for i, e := range []events.Event{
		{Type: events.CameraFound, State: "streaming"},
		{Type: events.RecordingStarted},
		{Type: events.SegmentClosed},
		{Type: events.RecordingFailed, Error: "disk full"},
		{Type: events.RecordingStopped},
		{Type: events.CameraState, State: "stalled"}, // no hook
		{Type: events.RetentionDeleted},              // no hook
		{Type: events.CameraLost, State: "disconnected"},
		{Type: events.RecordingStarted, Camera: "cam1"}, // another camera
	} {
		e.Camera = cmpOr(e.Camera, "cam0")
		s.publish(t, e)
		if e.Camera == "cam0" && e.Type != events.CameraState && e.Type != events.RetentionDeleted {
			ran++
			await(t, "hook "+strconv.Itoa(i), func() bool { return s.r.stats.succeeded.Load() == ran })
		}
	}
	s.stop()
	got, _ := os.ReadFile(log)
	want := `on_camera_found camera_found streaming
on_recording_start recording_started 
on_recording_end segment_closed 
on_recording_end recording_failed disk full
on_recording_end recording_stopped 
on_camera_lost camera_lost disconnected
`
	if string(got) != want {
		t.Errorf("hooks ran:\n%s\nwant\n%s", got, want)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestHookTimeoutKillsProcessGroup: a hook that sleeps forever, with a
// child in the background, is killed at its timeout with its whole
// process group, and logged with its output; hooks run on meanwhile.
func TestHookTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	hang := script(t, dir, "hang.sh", `echo $$ > "`+pidFile+`.tmp" && mv "`+pidFile+`.tmp" "`+pidFile+`"
sleep 1000 &
echo waiting for godot
exec sleep 1000
`)
	quick := script(t, dir, "quick.sh", "exit 0\n")
	s := start(t, Config{Cameras: []Camera{{Name: "cam0", OnRecordingStart: []string{hang}, OnRecordingEnd: []string{quick},
		Timeout: 300 * time.Millisecond}}}, nil)
	s.publish(t, events.Event{Type: events.RecordingStarted, Camera: "cam0"})
	var pid int
	await(t, "the hook's pid", func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	s.publish(t, events.Event{Type: events.RecordingStopped, Camera: "cam0"})
	await(t, "the hanging hook to time out", func() bool { return s.r.stats.timedOut.Load() == 1 })
	await(t, "the process group to be gone", func() bool { return errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH) })
	await(t, "the other hook to run", func() bool { return s.r.stats.succeeded.Load() == 1 })
	log := s.log.String()
	if !strings.Contains(log, `level=WARN msg="hook timed out: killed with its process group" camera=cam0 hook=on_recording_start program=`+hang+" event=recording_started") ||
		!strings.Contains(log, `timeout=300ms output="waiting for godot"`) {
		t.Errorf("log lacks the timeout:\n%s", log)
	}
}

// TestHookFailureLogged: a hook that exits 3 is logged at Warn with its
// exit code and the end of its output, bounded.
func TestHookFailureLogged(t *testing.T) {
	dir := t.TempDir()
	prog := script(t, dir, "fail.sh", `i=0; while [ $i -lt 1000 ]; do echo "line $i of noise"; i=$((i+1)); done
echo "no such bucket" >&2
exit 3
`)
	s := start(t, Config{Cameras: []Camera{{Name: "cam0", OnCameraLost: []string{prog}, Timeout: patience}}}, nil)
	s.publish(t, events.Event{Type: events.CameraLost, Camera: "cam0", State: "disconnected"})
	await(t, "the hook to fail", func() bool { return s.r.stats.failed.Load() == 1 })
	var line string
	for l := range strings.Lines(s.log.String()) {
		if strings.Contains(l, `msg="hook failed"`) {
			line = l
		}
	}
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "hook=on_camera_lost") ||
		!strings.Contains(line, `exit_code=3 error="exit status 3" output="…`) ||
		!strings.Contains(line, `line 999 of noise\nno such bucket"`) || len(line) > outputMax+1000 {
		t.Errorf("failure line (%d bytes): %s", len(line), line)
	}
	if strings.Contains(line, "line 0 of noise") {
		t.Errorf("the output is not bounded to its end: %s", line)
	}
}

// TestHookThatCannotStart: a program the kernel cannot execute (no #!) is
// logged and nothing else happens.
func TestHookThatCannotStart(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "nohashbang")
	if err := os.WriteFile(prog, []byte("\x00\x01binary junk"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := start(t, Config{Cameras: []Camera{{Name: "cam0", OnCameraFound: []string{prog}, Timeout: patience}}}, nil)
	s.publish(t, events.Event{Type: events.CameraFound, Camera: "cam0"})
	await(t, "the failure", func() bool { return s.r.stats.failed.Load() == 1 })
	if log := s.log.String(); !strings.Contains(log, `msg="hook did not start"`) || !strings.Contains(log, "exec format error") {
		t.Errorf("log:\n%s", log)
	}
}

// TestHooksBeyondBoundSkipped: with all of a camera's slots taken by hooks
// that hang, further events run no hook (counted, logged once), Publish
// does not wait, another camera's hooks run, and at shutdown the hanging
// hooks are killed after the grace: Run returns with no process left.
func TestHooksBeyondBoundSkipped(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	hang := script(t, dir, "hang.sh", `echo $$ >> "`+pids+`"
exec sleep 1000
`)
	quick := script(t, dir, "quick.sh", "exit 0\n")
	s := start(t, Config{Cameras: []Camera{
		{Name: "cam0", OnRecordingStart: []string{hang}, Timeout: time.Hour},
		{Name: "cam1", OnRecordingStart: []string{quick}, Timeout: patience},
	}}, func(r *Runner) { r.grace = 200 * time.Millisecond })
	for range MaxRunning + 3 {
		s.bus.Publish(events.Event{Type: events.RecordingStarted, Camera: "cam0"})
	}
	s.publish(t, events.Event{Type: events.RecordingStarted, Camera: "cam1"})
	await(t, "cam1's hook", func() bool { return s.r.stats.succeeded.Load() == 1 })
	if got := s.r.stats.skipped.Load(); got != 3 {
		t.Errorf("%d hooks skipped, want 3", got)
	}
	await(t, "the hanging hooks to write their pids", func() bool {
		b, _ := os.ReadFile(pids)
		return strings.Count(string(b), "\n") == MaxRunning
	})
	if n := strings.Count(s.log.String(), "hook skipped: too many"); n != 1 {
		t.Errorf("%d log lines for the skipped hooks, want 1 per burst:\n%s", n, s.log.String())
	}

	s.stop()
	if got := s.r.stats.killed.Load(); got != MaxRunning {
		t.Errorf("%d hooks killed at shutdown, want %d", got, MaxRunning)
	}
	b, _ := os.ReadFile(pids)
	for f := range strings.FieldsSeq(string(b)) {
		pid, _ := strconv.Atoi(f)
		await(t, "process group "+f+" gone", func() bool { return errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH) })
	}
	if log := s.log.String(); !strings.Contains(log, `msg="hooks or webhook still busy at shutdown: killing them" running=4 grace=200ms`) ||
		!strings.Contains(log, `msg="hook killed: camrec is stopping" camera=cam0`) {
		t.Errorf("log:\n%s", log)
	}
}

// TestHookForEventJustBeforeShutdown: an event published just before Run's
// context ends (the recorder's last file, at shutdown) still runs its hook.
func TestHookForEventJustBeforeShutdown(t *testing.T) {
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	prog := script(t, dir, "end.sh", `echo "$CAMREC_RECORDING_ID" > "`+done+`"`+"\n")
	s := start(t, Config{Cameras: []Camera{{Name: "cam0", OnRecordingEnd: []string{prog}, Timeout: patience}}}, nil)
	s.bus.Publish(events.Event{Type: events.RecordingStopped, Camera: "cam0", RecordingID: "last.mp4"})
	s.stop()
	if b, err := os.ReadFile(done); err != nil || string(b) != "last.mp4\n" {
		t.Errorf("the last file's hook: %q %v", b, err)
	}
}

// TestNothingConfigured: without hooks or webhook Run returns at once and
// the bus has no subscriber to feed.
func TestNothingConfigured(t *testing.T) {
	bus := events.NewBus(4)
	r := New(Config{Cameras: []Camera{{Name: "cam0", Timeout: time.Second}}, Log: testutil.Logger(t)}, bus)
	if r.sub != nil {
		t.Fatal("subscribed with nothing to run")
	}
	if err := r.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
}
