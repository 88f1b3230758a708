package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
)

// defaultPath is the hooks' PATH when camrec has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// runHook runs one hook for e and logs how it went, with its output: the
// program argv (no shell) in its own process group, the environment of
// env, e's JSON on stdin. At timeout, or when ctx is cancelled (shutdown),
// the whole group is killed; when the hook exits, whatever it left running
// in its group is killed too.
func (r *Runner) runHook(ctx context.Context, camera, hook string, argv []string, timeout time.Duration, e events.Event) {
	body, err := json.Marshal(e.Body())
	if err != nil { // a Body always marshals
		r.log.Error("hook: event to JSON", "camera", camera, "hook", hook, "error", err)
		return
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(hctx, argv[0], argv[1:]...)
	cmd.Env = r.env(hook, e)
	cmd.Stdin = bytes.NewReader(body)
	out := &tailBuffer{max: outputMax}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay

	// Only the program is logged: its arguments may hold a secret.
	attrs := []any{"camera", camera, "hook", hook, "program", argv[0], "event", string(e.Type), "event_id", e.ID}
	start := time.Now()
	err = cmd.Start()
	if err == nil {
		r.stats.started.Add(1)
		err = cmd.Wait()
	}
	if cmd.Process != nil {
		// Whatever the hook left behind in its group goes with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	attrs = append(attrs, "duration_s", defs.RoundTo(time.Since(start).Seconds(), 3))
	output := out.String()
	if cmd.ProcessState == nil { // it did not start
		r.log.Warn("hook did not start", append(attrs, "error", err.Error())...)
		r.stats.failed.Add(1)
		return
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	killed := hctx.Err() != nil && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	switch {
	case killed && ctx.Err() != nil:
		r.log.Warn("hook killed: camrec is stopping", append(attrs, "output", output)...)
		r.stats.killed.Add(1)
	case killed:
		r.log.Warn("hook timed out: killed with its process group", append(attrs, "timeout", timeout, "output", output)...)
		r.stats.timedOut.Add(1)
	case cmd.ProcessState.Success():
		// (err may be exec.ErrWaitDelay: the hook left a child holding its
		// output, killed above.)
		r.log.Info("hook ran", append(attrs, "exit_code", 0, "output", output)...)
		r.stats.succeeded.Add(1)
	default:
		r.log.Warn("hook failed", append(attrs, "exit_code", cmd.ProcessState.ExitCode(), "error", err.Error(), "output", output)...)
		r.stats.failed.Add(1)
	}
}

// env is a hook's whole environment: PATH, HOME, LANG, LC_ALL and TZ from
// camrec's (nothing else of it: it may hold secrets), and the event's
// CAMREC_* variables, those that apply.
func (r *Runner) env(hook string, e events.Event) []string {
	path := r.getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	env := []string{"PATH=" + path}
	add := func(k, v string) {
		if v != "" {
			// An environment string cannot hold a NUL.
			env = append(env, k+"="+strings.ReplaceAll(v, "\x00", ""))
		}
	}
	for _, k := range []string{"HOME", "LANG", "LC_ALL", "TZ"} {
		add(k, r.getenv(k))
	}
	b := e.Body()
	add("CAMREC_HOOK", hook)
	add("CAMREC_EVENT", string(e.Type))
	add("CAMREC_EVENT_ID", strconv.FormatUint(e.ID, 10))
	add("CAMREC_TIME", e.Time.Format(time.RFC3339Nano))
	add("CAMREC_CAMERA", e.Camera)
	add("CAMREC_RECORDING_ID", e.RecordingID)
	add("CAMREC_FILE", e.Path)
	add("CAMREC_FILE_URL", b.FileURL)
	if e.DurationS != 0 {
		add("CAMREC_DURATION_S", strconv.FormatFloat(e.DurationS, 'f', -1, 64))
	}
	if e.Bytes != 0 {
		add("CAMREC_BYTES", strconv.FormatInt(e.Bytes, 10))
	}
	add("CAMREC_STATE", e.State)
	add("CAMREC_ERROR", e.Error)
	add("CAMREC_RULE", e.Rule)
	if e.Score > 0 {
		add("CAMREC_SCORE", strconv.FormatFloat(e.Score, 'f', -1, 64))
	}
	add("CAMREC_ZONES", strings.Join(e.Zones, ","))
	add("CAMREC_MOTION_EVENT_ID", e.EventID)
	add("CAMREC_SNAPSHOT", e.SnapshotPath)
	add("CAMREC_SNAPSHOT_URL", e.SnapshotURL)
	return env
}

// tailBuffer keeps the last max bytes written to it (a hook's output).
type tailBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

// Write implements io.Writer.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	return len(p), nil
}

// String returns the output kept, "…" first when some was cut.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimRight(string(t.buf), "\n")
	if t.truncated {
		s = "…" + s
	}
	return s
}
