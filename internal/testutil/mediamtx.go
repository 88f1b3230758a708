package testutil

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// MediaMTXPath returns MediaMTX, the media server of the restream tests:
// $CAMREC_MEDIAMTX, else ~/.cache/camrec/bin/mediamtx (built by make
// mediamtx, test/restream/build-mediamtx.sh, which make test runs: about a
// minute), else mediamtx in PATH. When it is missing the test fails if CI
// is set and is skipped otherwise.
func MediaMTXPath(tb testing.TB) string {
	tb.Helper()
	p, err := cachedTool("CAMREC_MEDIAMTX", "mediamtx")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("MediaMTX is required in CI (make mediamtx builds it): %v", err)
		}
		tb.Skipf("MediaMTX not built (make mediamtx builds it): %v", err)
	}
	return p
}

// MediaMTX is a MediaMTX server on loopback ports: RTSP over TCP, RTMP,
// SRT (UDP) and its control API; no HLS or WebRTC.
type MediaMTX struct {
	RTSP, RTMP, SRT, API int // ports (SRT's is a UDP port)
	Log                  *SyncBuffer

	tb    testing.TB
	bin   string
	conf  string
	cmd   *exec.Cmd
	done  chan struct{}
	alive bool
}

// StartMediaMTX starts MediaMTX for the test with paths (the "paths:"
// section of its YAML, indented by two spaces; "" accepts any path) and
// waits until it takes connections; it is stopped at the end of the test.
func StartMediaMTX(tb testing.TB, paths string) *MediaMTX {
	tb.Helper()
	ports := freePorts(tb, 3)
	m := &MediaMTX{RTSP: ports[0], RTMP: ports[1], API: ports[2], SRT: freeUDPPort(tb), Log: &SyncBuffer{}, tb: tb, bin: MediaMTXPath(tb)}
	if paths == "" {
		paths = "  all_others:\n"
	}
	conf := fmt.Sprintf(`logLevel: info
logDestinations: [stdout]
api: yes
apiAddress: 127.0.0.1:%d
rtsp: yes
rtspTransports: [tcp]
rtspAddress: 127.0.0.1:%d
rtmp: yes
rtmpAddress: 127.0.0.1:%d
hls: no
webrtc: no
srt: yes
srtAddress: 127.0.0.1:%d
paths:
%s`, m.API, m.RTSP, m.RTMP, m.SRT, paths)
	m.conf = filepath.Join(tb.TempDir(), "mediamtx.yml")
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	m.Start()
	tb.Cleanup(m.Kill)
	return m
}

// Ready reports whether path has a publisher whose stream readers can
// read (MediaMTX's control API: GET /v3/paths/get/<path>).
func (m *MediaMTX) Ready(path string) bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v3/paths/get/%s", m.API, path))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var p struct {
		Ready bool `json:"ready"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&p) == nil && p.Ready
}

// freeUDPPort returns a free loopback UDP port.
func freeUDPPort(tb testing.TB) int {
	tb.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// URL is the RTSP URL of path on the server.
func (m *MediaMTX) URL(path string) string {
	return "rtsp://127.0.0.1:" + strconv.Itoa(m.RTSP) + "/" + path
}

// Start starts the server (again, on the same ports) and waits until its
// RTSP port takes connections.
func (m *MediaMTX) Start() {
	m.tb.Helper()
	cmd := exec.Command(m.bin, m.conf)
	cmd.Stdout, cmd.Stderr = m.Log, m.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // runOnDemand commands go with it
	if err := cmd.Start(); err != nil {
		m.tb.Fatalf("start mediamtx: %v", err)
	}
	m.cmd, m.done, m.alive = cmd, make(chan struct{}), true
	go func() { _ = cmd.Wait(); close(m.done) }()
	Eventually(m.tb, time.Minute, "MediaMTX to listen", func() bool {
		select {
		case <-m.done:
			m.tb.Fatalf("mediamtx exited: %s", m.Log.String())
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(m.RTSP), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// Kill stops the server at once (SIGKILL: a server going away), with its
// children, and waits for it to exit.
func (m *MediaMTX) Kill() {
	if !m.alive {
		return
	}
	m.alive = false
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.done
}
