package restream

import (
	"net"
	"strings"
	"testing"

	"github.com/camrec/camrec/internal/testutil"
)

// TestStderrTailReason: the publisher's stderr (-loglevel level+info) of a
// refused connection, as ffmpeg 5.1 writes it, becomes one readable line:
// the error lines without their level tags and addresses, without the
// empty "[error]" line ffmpeg ends with and the dangling " --", the
// informational lines and warnings left out, the password hidden.
func TestStderrTailReason(t *testing.T) {
	const stderr = `[flv @ 0x55dba9f9ea40] [warning] Stream #0: not enough frames to estimate rate; consider increasing probesize
[info] Input #0, flv, from 'pipe:0':
[info]   Stream #0:0: Video: h264 (High), yuv420p, 320x240 [SAR 1:1 DAR 4:3], 25 fps, 25 tbr, 1k tbn
[tcp @ 0x55dba9fc6ec0] [error] Connection to tcp://camrec:pa55w0rd@127.0.0.1:1?timeout=0 failed: Connection refused
[error] Could not write header for output file #0 (incorrect codec parameters ?): Connection refused
[error] Error initializing output stream 0:0 -- 
[info] Stream mapping:
[info]   Stream #0:0 -> #0:0 (copy)
[error] 
`
	var tail stderrTail
	tail.Write([]byte(stderr))
	const want = "[tcp] Connection to tcp://camrec:xxxxx@127.0.0.1:1?timeout=0 failed: Connection refused; " +
		"Could not write header for output file #0 (incorrect codec parameters ?): Connection refused; " +
		"Error initializing output stream 0:0"
	if got := tail.String("pa55w0rd"); got != want {
		t.Errorf("reason\n %q\nwant\n %q", got, want)
	}
	// The encoder's ffmpeg logs at level error without tags: its lines
	// are kept as they are, a repeated line once.
	var enc stderrTail
	enc.Write([]byte("pipe:0: Invalid data found when processing input\npipe:0: Invalid data found when processing input\n"))
	if got := enc.String(); got != "pipe:0: Invalid data found when processing input" {
		t.Errorf("encoder reason %q", got)
	}
}

// TestRestreamRefusedReason: a server that refuses the connection (a
// port nothing listens on) puts the restream in retrying with ffmpeg's
// own reason, readable: no level tags, no dangling "[error]" at the end.
func TestRestreamRefusedReason(t *testing.T) {
	ff := testutil.RequireTool(t, "ffmpeg")
	cam := testCamera(t, 160, 120)
	enc := NewEncoder(EncoderConfig{Camera: "cam0", FFmpeg: ff, FPS: 30}, cam, testutil.Logger(t))
	run(t, enc.Run)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refused from now on
	rs, err := New(Config{Camera: "cam0", URL: "rtsp://" + addr + "/cam0", FFmpeg: ff}, enc, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	run(t, rs.Run)
	st := waitState(t, rs, StateRetrying)
	t.Logf("error: %s", st.Error)
	if !strings.HasPrefix(st.Error, "the server did not take the stream: ") || !strings.Contains(st.Error, "Connection refused") {
		t.Errorf("error %q: want the server's refusal in ffmpeg's words", st.Error)
	}
	for _, bad := range []string{"[error]", "[info]", "@ 0x", "; ;"} {
		if strings.Contains(st.Error, bad) {
			t.Errorf("error %q contains %q", st.Error, bad)
		}
	}
	if strings.HasSuffix(st.Error, "]") || strings.HasSuffix(st.Error, "--") || strings.HasSuffix(st.Error, ";") {
		t.Errorf("error %q ends in a dangling tag or separator", st.Error)
	}
}
