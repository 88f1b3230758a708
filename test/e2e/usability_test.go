package e2e

import (
	"mime"
	"mime/multipart"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAddressInUse: a taken port is refused with a hint at -listen.
func TestAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := execCamrec("-listen", ln.Addr().String(), "-record-dir", t.TempDir())
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "address already in use") || !strings.Contains(string(out), "-listen") {
		t.Fatalf("exit %d, output:\n%s\nwant a failure hinting at -listen", cmd.ProcessState.ExitCode(), out)
	}
}

// TestVersionIsStamped: make build's -ldflags stamp the version that
// -version prints.
func TestVersionIsStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "camrec")
	build := exec.Command("go", "build", "-ldflags", "-s -w -X main.buildVersion=v9.9.9-test", "-o", bin, "github.com/camrec/camrec")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "camrec v9.9.9-test" {
		t.Fatalf("-version: %q %v", out, err)
	}
}

// TestStreamPartsCarryTimestamps: each MJPEG part has X-Timestamp, the
// capture time, so clients can time the stream; consecutive parts of a
// 30 fps camera are about 1/30 s apart by it.
func TestStreamPartsCarryTimestamps(t *testing.T) {
	d := startCamrec(t, "-device", "test:", "-size", "320x240", "-fps", "30")
	resp, err := apiClient.Get(d.URL + "/stream.mjpg")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var stamps []float64
	for len(stamps) < 31 {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseFloat(p.Header.Get("X-Timestamp"), 64)
		if err != nil {
			t.Fatalf("X-Timestamp %q: %v", p.Header.Get("X-Timestamp"), err)
		}
		if d := time.Since(time.Unix(0, int64(v*1e9))); d < -time.Second || d > time.Minute {
			t.Fatalf("X-Timestamp %v is not a capture time (%v from now)", v, d)
		}
		stamps = append(stamps, v)
	}
	// Strictly increasing, and the typical gap is the camera's 1/30 s (a
	// client that reads slowly may miss frames, which widens a few gaps
	// but not the median).
	var gaps []float64
	for i := 1; i < len(stamps); i++ {
		if stamps[i] <= stamps[i-1] {
			t.Fatalf("X-Timestamp went from %.6f to %.6f", stamps[i-1], stamps[i])
		}
		if i > 1 { // the first part may be the latest frame, sent at connect
			gaps = append(gaps, stamps[i]-stamps[i-1])
		}
	}
	slices.Sort(gaps)
	if med := gaps[len(gaps)/2]; med < 0.025 || med > 0.045 {
		t.Errorf("median gap %.4f s by X-Timestamp, want about 1/30 s", med)
	}
}
