package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/pipeline"
)

// streamBoundary separates the parts of the MJPEG stream.
const streamBoundary = "camrecframe"

// stream serves the camera's live preview as multipart/x-mixed-replace, one
// JPEG per part. Each client has its own queue in the hub (drop-oldest), so a
// slow client gets fewer frames and never slows anyone else; a client that
// cannot take one part within the write timeout is dropped.
func (s *Server) stream(c *gin.Context) {
	cam := cameraOf(c)
	interval, err := parseFPS(c.Query("fps"))
	if err != nil {
		abortWithError(c, s.log, err)
		return
	}
	limit := s.streams[cam.View.Name()]
	if !limit.acquire(s.maxClients) {
		abortWithError(c, s.log, fmt.Errorf("camera %q already serves %d preview streams, the most allowed (max_clients): %w",
			cam.View.Name(), s.maxClients, errTooManyClients))
		return
	}
	defer limit.release()
	ctx := c.Request.Context()
	hub := cam.View.PreviewHub()
	sub := hub.SubscribeClient(streamQueueDepth)
	defer sub.Close()

	h := c.Writer.Header()
	h.Set("Content-Type", "multipart/x-mixed-replace; boundary="+streamBoundary)
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if c.Request.ProtoMajor == 1 {
		// No chunked encoding: the stream ends when the connection does
		// (net/http closes it after this reply). A part is then one
		// write (see partWriter), where chunking made three (the chunk
		// header, the part, its CRLF), with the syscalls, loopback
		// segments and wake-ups of each (make bench-peers).
		h.Set("Transfer-Encoding", "identity")
	}
	c.Writer.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(c.Writer)
	// Send the headers and the first boundary now: the first frame may be
	// a while away. Each part then ends with the next boundary (see
	// appendPart).
	if _, err := c.Writer.Write([]byte("--" + streamBoundary + "\r\n")); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}

	log := s.log.With("camera", cam.View.Name(), "client", c.Request.RemoteAddr)
	log.Debug("stream client connected", "fps_cap", c.Query("fps"))
	started := time.Now()
	parts := &partWriter{conn: tcpConnOf(c.Request), w: c.Writer, rc: rc, timeout: s.writeTimeout, end: []byte(partEnd)}
	var (
		last      *pipeline.Frame
		next      time.Time // earliest capture time of the next frame sent (fps cap)
		sent      uint64
		skipped   uint64
		endReason string
	)
	defer func() {
		// Debug, like the connect: a dashboard reconnecting in a loop
		// must not flood the journal.
		log.Debug("stream client closed", "frames_sent", sent, "frames_dropped", sub.Dropped(),
			"frames_skipped", skipped, "duration_s", pipeline.RoundTo(time.Since(started).Seconds(), 3), "reason", endReason)
	}()

	send := func(f *pipeline.Frame) error {
		if f == last {
			return nil // the latest frame may also be waiting in the queue
		}
		if interval > 0 {
			t := f.Time
			if t.IsZero() {
				t = time.Now()
			}
			if t.Before(next) {
				skipped++
				return nil
			}
			// Keep a fixed grid so the average rate is the cap, but do not
			// let a long gap bank credit for a burst.
			next = next.Add(interval)
			if next.Before(t) {
				next = t.Add(interval)
			}
		}
		if err := parts.write(f); err != nil {
			return err
		}
		last = f
		sent++
		return nil
	}

	if f := hub.Latest(); f != nil {
		if err := send(f); err != nil {
			endReason = err.Error()
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			endReason = "client went away"
			if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
				endReason = "request ended: " + cause.Error()
			}
			return
		case f := <-sub.Frames():
			if err := send(f); err != nil {
				endReason = err.Error()
				return
			}
		}
	}
}

// streamHead answers HEAD on a stream with the stream's headers and no
// body (a GET would never end).
func (s *Server) streamHead(c *gin.Context) {
	if _, err := parseFPS(c.Query("fps")); err != nil {
		abortWithError(c, s.log, err)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "multipart/x-mixed-replace; boundary="+streamBoundary)
	h.Set("Cache-Control", "no-store")
	c.Status(http.StatusOK)
}

// streamLimit counts one camera's open preview streams.
type streamLimit struct {
	open    atomic.Int64
	refused atomic.Uint64
}

// acquire takes a place if fewer than max are open, else counts a refusal.
func (l *streamLimit) acquire(max int) bool {
	if l.open.Add(1) > int64(max) {
		l.open.Add(-1)
		l.refused.Add(1)
		return false
	}
	return true
}

func (l *streamLimit) release() { l.open.Add(-1) }

// partWriter writes a stream's parts. On a plain HTTP/1.1 connection it
// writes to the socket itself, after the response's headers went out
// through the ResponseWriter (whose buffers are then empty): the part's
// headers, the frame and the next boundary in one writev(2), the frame not
// copied. Otherwise (TLS, HTTP/2, a server without ConnContext) it copies
// the part into one buffer and writes it through the ResponseWriter, so
// that it is one write too.
type partWriter struct {
	conn    *net.TCPConn // nil: through w
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration // for each part
	buf     []byte        // reused: the part's headers (conn), or the whole part
	end     []byte        // partEnd
	vec     [3][]byte
	bufs    net.Buffers
}

func (p *partWriter) write(f *pipeline.Frame) error {
	deadline := time.Now().Add(p.timeout)
	if p.conn != nil {
		if err := p.conn.SetWriteDeadline(deadline); err != nil {
			return fmt.Errorf("set write deadline: %w", err)
		}
		p.buf = appendPartHeader(p.buf[:0], f)
		p.vec = [3][]byte{p.buf, f.Data, p.end}
		p.bufs = p.vec[:] // WriteTo consumes bufs, not vec
		if _, err := p.bufs.WriteTo(p.conn); err != nil {
			return fmt.Errorf("write part: %w", err)
		}
		return nil
	}
	p.buf = appendPart(p.buf[:0], f)
	if err := p.rc.SetWriteDeadline(deadline); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("set write deadline: %w", err)
	}
	if _, err := p.w.Write(p.buf); err != nil {
		return fmt.Errorf("write part: %w", err)
	}
	if err := p.rc.Flush(); err != nil {
		return fmt.Errorf("flush part: %w", err)
	}
	return nil
}

// partEnd ends every part: the boundary of the next.
const partEnd = "\r\n--" + streamBoundary + "\r\n"

// appendPart appends one multipart part holding the frame's JPEG to b,
// ended by the boundary that follows it: a client that finds the end of a
// part by the next boundary (Go's mime/multipart, browsers) has the frame
// at once, not when the next frame comes (a frame interval later: 33 ms
// at 30 fps, measured by make bench-peers before this). Its X-Timestamp
// header is the capture time in seconds since the epoch (as IP cameras
// send it), so clients can time frames from the camera rather than assume
// 25 fps.
func appendPart(b []byte, f *pipeline.Frame) []byte {
	b = appendPartHeader(b, f)
	b = append(b, f.Data...)
	return append(b, partEnd...)
}

// appendPartHeader appends the headers of the part holding f (and the
// blank line after them).
func appendPartHeader(b []byte, f *pipeline.Frame) []byte {
	b = append(b, "Content-Type: image/jpeg\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(f.Data)), 10)
	if !f.Time.IsZero() {
		b = append(b, "\r\nX-Timestamp: "...)
		ns := f.Time.UnixNano()
		b = strconv.AppendInt(b, ns/1e9, 10)
		b = append(b, '.')
		frac := ns % 1e9
		for div := int64(1e8); div >= 1e3; div /= 10 { // microseconds, zero-padded
			b = append(b, byte('0'+frac/div%10))
		}
	}
	return append(b, "\r\n\r\n"...)
}

// parseFPS validates the fps query parameter and returns the minimum interval
// between frames sent (0: no cap).
func parseFPS(q string) (time.Duration, error) {
	if q == "" {
		return 0, nil
	}
	fps, err := strconv.ParseFloat(q, 64)
	if err != nil || !(fps >= minStreamFPS && fps <= maxStreamFPS) { // also rejects NaN
		return 0, fmt.Errorf("%w: fps must be a number from %g to %d, got %q", errBadRequest, minStreamFPS, maxStreamFPS, q)
	}
	return time.Duration(float64(time.Second) / fps), nil
}

// snapshot serves the camera's latest frame as a standalone JPEG (with
// Huffman tables even when the camera omits them).
func (s *Server) snapshot(c *gin.Context) {
	cam := cameraOf(c)
	f, err := cam.View.Snapshot(c.Request.Context())
	if err != nil {
		abortWithError(c, s.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Last-Modified", f.Time.UTC().Format(http.TimeFormat))
	c.Data(http.StatusOK, "image/jpeg", mjpeg.Standalone(f.Data))
}
