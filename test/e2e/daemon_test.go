// Package e2e runs the real camrec binary over loopback with real ffmpeg
// and checks what a user sees: preview frames, snapshots, recordings that
// ffprobe reads, signals, several cameras and clear errors.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/testutil"
)

// camrecBin is the binary built once by TestMain.
var camrecBin string

// raceFreeBcrypt builds bcrypt's cipher without the race detector (as
// make test does, see the Makefile).
const raceFreeBcrypt = "-gcflags=golang.org/x/crypto/blowfish=-race=false"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "camrec-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	camrecBin = filepath.Join(dir, "camrec")
	// With the race detector, bcrypt (pure computation, no goroutines of
	// its own) is 14 times slower: 1.1 s a check at cost 10. Its cipher
	// is built without the detector (raceFreeBcrypt).
	build := exec.Command("go", "build", "-race", raceFreeBcrypt, "-o", camrecBin, "github.com/camrec/camrec")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building camrec:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool fails the test when CI is set and the program is missing,
// and skips it otherwise.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	return testutil.RequireTool(t, name)
}

// Daemon is a running camrec process.
type Daemon struct {
	URL       string // http://127.0.0.1:PORT
	RecordDir string
	cmd       *exec.Cmd
	stderr    *testutil.SyncBuffer
	done      chan struct{}
	exitErr   error
}

var urlRE = regexp.MustCompile(`msg=listening url=(https?://[^ ]+)/`)

// startCamrec starts camrec with args plus "-listen 127.0.0.1:0" and a
// fresh record dir unless args name them, waits until it listens, and
// stops it (SIGTERM) when the test ends.
func startCamrec(t *testing.T, args ...string) *Daemon {
	t.Helper()
	return startCamrecEnv(t, nil, args...)
}

func startCamrecEnv(t *testing.T, env []string, args ...string) *Daemon {
	t.Helper()
	joined := " " + strings.Join(args, " ")
	d := &Daemon{stderr: &testutil.SyncBuffer{}, done: make(chan struct{})}
	if !strings.Contains(joined, " -listen") {
		args = append(args, "-listen", "127.0.0.1:0")
	}
	if !strings.Contains(joined, " -record-dir") {
		d.RecordDir = t.TempDir()
		args = append(args, "-record-dir", d.RecordDir)
	}
	d.cmd = exec.Command(camrecBin, args...)
	d.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	d.cmd.Stderr = io.MultiWriter(d.stderr, pw)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exitErr = d.cmd.Wait()
		pw.Close()
		close(d.done)
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() {
		d.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
			t.Errorf("camrec did not exit within 15 s of SIGTERM; log:\n%s", d.stderr.String())
		}
		if t.Failed() {
			t.Logf("camrec log:\n%s", d.stderr.String())
		}
	})
	select {
	case d.URL = <-found:
	case <-d.done:
		t.Fatalf("camrec exited before listening (%v):\n%s", d.exitErr, d.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("camrec did not listen within 30 s:\n%s", d.stderr.String())
	}
	return d
}

// Signal sends sig to camrec (ignored once it has exited).
func (d *Daemon) Signal(sig os.Signal) {
	select {
	case <-d.done:
	default:
		d.cmd.Process.Signal(sig)
	}
}

// Wait waits for camrec to exit and returns its exit code.
func (d *Daemon) Wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		t.Fatalf("camrec still running after %v", timeout)
	}
	return d.cmd.ProcessState.ExitCode()
}

// Log returns what camrec has logged so far.
func (d *Daemon) Log() string { return d.stderr.String() }

// awaitLog waits until camrec's log holds want. camrec's stderr reaches the
// test through a pipe and a copying goroutine, so a line written before an
// event or a response camrec sent can still be on its way when the test
// has seen them.
func (d *Daemon) awaitLog(t *testing.T, want string) {
	t.Helper()
	waitFor(t, 30*time.Second, "the log to say "+strconv.Quote(want), func() bool {
		return strings.Contains(d.Log(), want)
	})
}

// do sends a request and decodes a JSON answer into out (if non-nil).
// It returns the status code and the raw body.
func (d *Daemon) do(t *testing.T, method, path, body string, out any) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %q is not the JSON expected: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, b
}

// waitFor waits until cond is true (testutil.Eventually).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, what, cond)
}
