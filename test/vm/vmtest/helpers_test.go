package vmtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/testutil"
)

// vm is what the guest script hands the tests.
type vm struct {
	bin, writer, ffmpeg, out string
}

// needVM skips the test outside the VM and returns the binaries' paths.
func needVM(t *testing.T) vm {
	t.Helper()
	if os.Getenv("CAMREC_VM") != "1" {
		t.Skip("runs only inside the test VM: test/vm/run.sh")
	}
	v := vm{
		bin:    os.Getenv("CAMREC_VM_BIN"),
		writer: os.Getenv("CAMREC_VM_WRITER"),
		ffmpeg: os.Getenv("CAMREC_VM_FFMPEG"),
		out:    os.Getenv("CAMREC_VM_OUT"),
	}
	for name, p := range map[string]string{"CAMREC_VM_BIN": v.bin, "CAMREC_VM_WRITER": v.writer, "CAMREC_VM_FFMPEG": v.ffmpeg} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return v
}

// proc is a child process the test owns: stopped (SIGTERM, then SIGKILL
// after 10 s) and its output logged and saved to the out folder at cleanup.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	output *testutil.SyncBuffer
	done   chan struct{}
	err    error // valid after done is closed
}

func start(t *testing.T, v vm, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(name), cmd: exec.Command(name, args...), output: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout = p.output
	p.cmd.Stderr = p.output
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		out := p.output.String()
		if t.Failed() || testing.Verbose() && os.Getenv("CAMREC_VM_LOGS") == "1" {
			t.Logf("%s %s exited (%v); output:\n%s", p.name, strings.Join(args, " "), p.err, out)
		}
		if v.out != "" {
			file := filepath.Join(v.out, sanitize(t.Name())+"."+p.name+".log")
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				t.Logf("save log: %v", err)
			}
		}
	})
	return p
}

// stop sends SIGTERM and waits; it kills after 10 s. Safe to call twice.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not stop within 10 s of SIGTERM; killing it", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// send writes one control line to the process's stdin.
func (p *proc) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("%s: send %q: %v", p.name, line, err)
	}
}

// waitOutput polls the process's output until it contains want.
func (p *proc) waitOutput(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.output.String(), want) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before printing %q", p.name, p.err, want)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v", p.name, want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitHTTP polls url until it answers 200 or the process exits.
func waitHTTP(t *testing.T, p *proc, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before %s answered", p.name, p.err, url)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		cancel()
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %v: %v", url, timeout, last)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func sanitize(s string) string { return unsafeChars.ReplaceAllString(s, "_") }
