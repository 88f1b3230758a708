package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// streamReader reads the parts of an MJPEG stream response.
type streamReader struct {
	t    testing.TB
	resp *http.Response
	mr   *multipart.Reader
}

func openStream(t testing.TB, client *http.Client, url string) *streamReader {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" || params["boundary"] == "" {
		resp.Body.Close()
		t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	return &streamReader{t: t, resp: resp, mr: multipart.NewReader(resp.Body, params["boundary"])}
}

// next reads one part and checks its headers against its body.
func (s *streamReader) next() ([]byte, error) {
	p, err := s.mr.NextPart()
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(p)
	if err != nil {
		return nil, err
	}
	if ct := p.Header.Get("Content-Type"); ct != "image/jpeg" {
		return nil, fmt.Errorf("part Content-Type %q", ct)
	}
	if n, err := strconv.Atoi(p.Header.Get("Content-Length")); err != nil || n != len(data) {
		return nil, fmt.Errorf("part Content-Length %q, body %d bytes", p.Header.Get("Content-Length"), len(data))
	}
	if !bytes.HasPrefix(data, []byte{0xFF, 0xD8}) || !bytes.HasSuffix(data, []byte{0xFF, 0xD9}) {
		return nil, fmt.Errorf("part is not a whole JPEG (%d bytes)", len(data))
	}
	// X-Timestamp is the frame's capture time (the source writes it into
	// the JPEG too), to the microsecond.
	secs, err := strconv.ParseFloat(p.Header.Get("X-Timestamp"), 64)
	if err != nil {
		return nil, fmt.Errorf("part X-Timestamp %q: %v", p.Header.Get("X-Timestamp"), err)
	}
	if _, ts := frameSeq(s.t, data); math.Abs(secs-float64(ts.UnixNano())/1e9) > 2e-6 {
		return nil, fmt.Errorf("part X-Timestamp %q, frame captured at %d ns", p.Header.Get("X-Timestamp"), ts.UnixNano())
	}
	return data, nil
}

func (s *streamReader) close() { s.resp.Body.Close() }

// TestStream reads streams written both ways: straight to the socket (the
// daemon's HTTP) and through the ResponseWriter (as over TLS).
func TestStream(t *testing.T) {
	for _, through := range []bool{false, true} {
		name := "socket"
		if through {
			name = "response writer"
		}
		t.Run(name, func(t *testing.T) { testStream(t, newEnv(t, envConfig{throughWriter: through})) })
	}
}

func testStream(t *testing.T, e *env) {
	for _, path := range []string{"/api/v1/cameras/cam1/stream.mjpg", "/stream.mjpg"} {
		t.Run(path, func(t *testing.T) {
			cam := "cam1"
			if path == "/stream.mjpg" {
				cam = "cam0" // the alias serves the first camera
			}
			s := openStream(t, e.client, e.url+path)
			if cc := s.resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if te := s.resp.TransferEncoding; len(te) != 0 {
				t.Errorf("Transfer-Encoding %q, want none (the connection ends the stream)", te)
			}
			e.awaitClients(cam, 1)
			const n = 30
			var prev uint64
			for i := range n {
				data, err := s.next()
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				seq, _ := frameSeq(t, data)
				if i > 0 && seq <= prev {
					t.Fatalf("part %d: frame %d after frame %d", i, seq, prev)
				}
				prev = seq
			}
			if _, err := jpeg.DecodeConfig(bytes.NewReader(mustNext(t, s))); err != nil {
				t.Errorf("streamed frame does not decode: %v", err)
			}
			s.close()
			e.awaitClients(cam, 0)
			if subs := e.cams[cam].PreviewHub().Subscribers(); subs != 0 {
				t.Errorf("%d subscribers left", subs)
			}
		})
	}
}

func mustNext(t testing.TB, s *streamReader) []byte {
	t.Helper()
	b, err := s.next()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStreamFPSCap checks that ?fps=5 sends at most about 5 frames a second
// of a 30 fps camera, never two closer than the cap allows, measured on the
// frames' own capture times.
func TestStreamFPSCap(t *testing.T) {
	e := newEnv(t, envConfig{})
	tests := []struct {
		fps       string
		want      float64
		tolerance float64
		frames    int
		grid      bool // the cap is below the camera's rate: its grid holds
	}{
		{"5", 5, 0.5, 11, true},
		{"2.5", 2.5, 0.3, 6, true},
		{"120", 30, 4, 31, false}, // the cap is above the camera's rate
	}
	for _, tc := range tests {
		t.Run("fps="+tc.fps, func(t *testing.T) {
			s := openStream(t, e.client, e.url+"/api/v1/cameras/cam0/stream.mjpg?fps="+tc.fps)
			defer s.close()
			var times []time.Time
			for range tc.frames {
				_, ts := frameSeq(t, mustNext(t, s))
				times = append(times, ts)
			}
			span := times[len(times)-1].Sub(times[0]).Seconds()
			got := float64(len(times)-1) / span
			// The cap bounds the rate from above; a busy machine may make
			// the camera itself slower, never the stream faster.
			if got > tc.want+tc.tolerance {
				t.Errorf("rate %.2f fps over %.2f s, want at most %.1f + %.1f", got, span, tc.want, tc.tolerance)
			}
			// No burst: the cap keeps a grid of 1/fps, so no three frames
			// sent fall within one interval, however late the camera
			// delivered them (two may be close when one came just before
			// its grid point and the next just after).
			if tc.grid {
				interval := time.Duration(float64(time.Second) / tc.want)
				for i := 0; i+2 < len(times); i++ {
					if span := times[i+2].Sub(times[i]); span < interval {
						t.Errorf("frames %d to %d within %v, less than one interval (%v)", i, i+2, span, interval)
					}
				}
			}
			t.Logf("fps=%s: %.2f fps measured over %d frames", tc.fps, got, len(times))
		})
	}
}

// TestStreamSlowClient checks that a client that reads nothing neither
// slows a fast client nor stays connected: the per-part write deadline
// drops it.
func TestStreamSlowClient(t *testing.T) {
	big := encodeJPEG(t, 1280, 720, true) // noise: hundreds of KB, as a real frame
	e := newEnv(t, envConfig{
		cams:         []camSpec{{name: "cam0", run: true, base: big, w: 1280, h: 720}},
		writeTimeout: time.Second,
	})
	t.Logf("frame size %d KB", len(big)/1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The fast client reads everything and notes when each frame arrived.
	type arrival struct {
		at  time.Time
		seq uint64
	}
	arrivals := make(chan arrival, 1024)
	fast := openStream(t, e.client, e.url+"/api/v1/cameras/cam0/stream.mjpg")
	fastDone := make(chan error, 1)
	go func() {
		defer close(arrivals)
		for ctx.Err() == nil {
			data, err := fast.next()
			if err != nil {
				fastDone <- err
				return
			}
			seq, _ := frameSeq(t, data)
			arrivals <- arrival{time.Now(), seq}
		}
		fastDone <- nil
	}()
	e.awaitClients("cam0", 1)

	// The slow client asks for the stream and never reads a byte.
	conn, err := net.Dial("tcp", e.url[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET /api/v1/cameras/cam0/stream.mjpg HTTP/1.1\r\nHost: camrec\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	slowStart := time.Now()
	e.awaitClients("cam0", 2)
	e.awaitClients("cam0", 1) // the slow one is dropped
	slowFor := time.Since(slowStart)
	// Let the fast client run on a little, then stop it.
	time.Sleep(300 * time.Millisecond)
	cancel()
	fast.close()
	<-fastDone

	// Compare what the fast client got while the slow one was stuck with
	// what the camera produced meanwhile (its sequence numbers): on a busy
	// machine the camera itself may run below 30 fps.
	var got int
	var firstSeq, lastSeq uint64
	for a := range arrivals {
		if a.at.Before(slowStart) || a.at.After(slowStart.Add(slowFor)) {
			continue
		}
		if got == 0 {
			firstSeq = a.seq
		}
		lastSeq = a.seq
		got++
	}
	produced := int(lastSeq-firstSeq) + 1
	t.Logf("slow client dropped after %v; meanwhile the fast client got %d of the %d frames the camera made (%.1f fps)",
		slowFor.Round(time.Millisecond), got, produced, float64(got)/slowFor.Seconds())
	// How many of the camera's frames the fast client gets depends on how
	// busy the machine is (its own queue drops when its reader falls
	// behind); what a stuck client must not do is stop the others: the
	// fast client keeps receiving new frames while the slow one is stuck.
	if got < 3 {
		t.Errorf("fast client got %d of %d frames while the slow client was stuck", got, produced)
	}

	// The slow client's connection was closed by the server.
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	nread, err := io.Copy(io.Discard, bufio.NewReader(conn))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("slow client's connection still open (read %d bytes)", nread)
	}
	t.Logf("slow client had %d KB in flight when dropped; then: %v", nread/1000, err)
	e.awaitClients("cam0", 0)
}

func TestSnapshot(t *testing.T) {
	plain := encodeJPEG(t, 320, 240, false)
	bare := withoutDHT(t, plain) // as many UVC cameras send it
	if _, err := jpeg.Decode(bytes.NewReader(bare)); err == nil {
		t.Fatal("a JPEG without DHT decodes: the test proves nothing")
	}
	e := newEnv(t, envConfig{cams: []camSpec{
		{name: "cam0", run: true, base: bare, w: 320, h: 240},
		{name: "cam1", run: true, base: plain, w: 320, h: 240},
	}})
	for _, path := range []string{"/snapshot.jpg", "/api/v1/cameras/cam0/snapshot.jpg", "/api/v1/cameras/cam1/snapshot.jpg"} {
		t.Run(path, func(t *testing.T) {
			resp := e.do("GET", path, "")
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
				t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			img, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("snapshot does not decode: %v", err)
			}
			if sz := img.Bounds().Size(); sz.X != 320 || sz.Y != 240 {
				t.Errorf("snapshot is %v", sz)
			}
		})
	}
}
