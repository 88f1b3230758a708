package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gin-gonic/gin"
	"golang.org/x/sys/unix"

	"github.com/camrec/camrec/internal/defs"
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
	log := s.log.With("camera", cam.View.Name(), "client", c.Request.RemoteAddr)
	rc := http.NewResponseController(c.Writer)
	parts := newPartWriter(tcpConnOf(c.Request), c.Writer, rc, s.writeTimeout)
	// On a plain HTTP/1.1 connection without an fps cap, the camera's
	// goroutine writes the parts itself while the socket takes them at
	// once (see pipeline.DirectSink); this goroutine writes only what
	// the socket could not take.
	direct := parts.raw != nil && interval == 0
	var sub *pipeline.Subscriber
	if direct {
		sub = hub.SubscribeClientDirect(streamQueueDepth, parts)
	} else {
		sub = hub.SubscribeClient(streamQueueDepth)
	}
	started := time.Now()
	var (
		next      time.Time // earliest capture time of the next frame sent (fps cap)
		skipped   uint64
		endReason string
	)
	defer func() {
		sub.Close() // first: the camera's goroutine may be writing to parts
		// Debug, like the connect: a dashboard reconnecting in a loop
		// must not flood the journal.
		log.Debug("stream client closed", "frames_sent", parts.sent, "frames_dropped", sub.Dropped(),
			"frames_skipped", skipped, "duration_s", defs.RoundTo(time.Since(started).Seconds(), 3), "reason", endReason)
	}()

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
	// Send the headers and the first boundary now: the first frame may be
	// a while away. Each part then ends with the next boundary (see
	// appendPart).
	if _, err := c.Writer.Write([]byte("--" + streamBoundary + "\r\n")); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}

	log.Debug("stream client connected", "fps_cap", c.Query("fps"))

	send := func(f *pipeline.Frame) error {
		if interval > 0 && f != parts.last {
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
		if direct && len(sub.Frames()) == 0 && hub.DirectAllowed() {
			// Nothing left to write here: hand the socket back to the
			// camera's goroutine, without the deadline of this
			// goroutine's writes (with more clients, the hub queues
			// every frame: this goroutine keeps the socket).
			if err := parts.conn.SetWriteDeadline(time.Time{}); err != nil {
				return fmt.Errorf("clear write deadline: %w", err)
			}
			sub.Direct()
		}
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
//
// On the socket, it is also the hub's DirectSink: TryTake writes a part
// without waiting, in the camera's goroutine, and what the socket did not
// take is written by write, in the stream's goroutine. The hub's
// Subscriber hands the partWriter from one goroutine to the other (its
// mutex, its queue), so the two never write at once.
type partWriter struct {
	conn    *net.TCPConn    // nil: through w
	raw     syscall.RawConn // conn's; nil without conn
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration // for each part written by write
	buf     []byte        // reused: the part's headers (conn), or the whole part
	end     []byte        // partEnd
	vec     [3][]byte
	iov     [3]unix.Iovec // vec for writev's raw call
	bufs    net.Buffers

	last *pipeline.Frame // the last frame written whole: not again
	sent uint64          // parts written whole

	// A part TryTake began and could not finish: write finishes it first.
	partial     *pipeline.Frame
	partialDone int   // bytes of that part written
	err         error // TryTake's failure, returned by the next write

	tryWrite func(fd uintptr) bool // p.writev, bound once
	tryN     int
	tryErr   error
}

func newPartWriter(conn *net.TCPConn, w http.ResponseWriter, rc *http.ResponseController, timeout time.Duration) *partWriter {
	p := &partWriter{w: w, rc: rc, timeout: timeout, end: []byte(partEnd)}
	if conn != nil {
		raw, err := conn.SyscallConn()
		if err == nil {
			p.conn, p.raw = conn, raw
			p.tryWrite = p.writev
		}
	}
	return p
}

// write writes what is left of a part TryTake began, then the part of f
// unless that was the last written, waiting up to the timeout for each.
func (p *partWriter) write(f *pipeline.Frame) error {
	if p.err != nil {
		return p.err
	}
	if g := p.partial; g != nil {
		// g may have been dropped from the queue since: its part is
		// finished all the same, or the stream would be garbled.
		p.partial = nil
		if err := p.writePart(g, p.partialDone); err != nil {
			return err
		}
	}
	if f == p.last {
		return nil // the latest frame may also be waiting in the queue
	}
	return p.writePart(f, 0)
}

// writePart writes f's part but its first skip bytes.
func (p *partWriter) writePart(f *pipeline.Frame, skip int) error {
	deadline := time.Now().Add(p.timeout)
	if p.conn != nil {
		if err := p.conn.SetWriteDeadline(deadline); err != nil {
			return fmt.Errorf("set write deadline: %w", err)
		}
		p.setVec(f)
		p.bufs = p.vec[:] // WriteTo consumes bufs, not vec
		for skip > 0 {
			if n := len(p.bufs[0]); skip >= n {
				p.bufs, skip = p.bufs[1:], skip-n
			} else {
				p.bufs[0], skip = p.bufs[0][skip:], 0
			}
		}
		if _, err := p.bufs.WriteTo(p.conn); err != nil {
			return fmt.Errorf("write part: %w", err)
		}
	} else {
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
	}
	p.last = f
	p.sent++
	return nil
}

// setVec puts f's part in p.vec: its headers (in p.buf), the frame, the
// next boundary.
func (p *partWriter) setVec(f *pipeline.Frame) {
	p.buf = appendPartHeader(p.buf[:0], f)
	p.vec = [3][]byte{p.buf, f.Data, p.end}
}

// TryTake writes f's part to the socket as far as it takes it at once
// (pipeline.DirectSink), and reports whether it took it whole. If not,
// the hub queues f and write does the rest.
func (p *partWriter) TryTake(f *pipeline.Frame) bool {
	if f == p.last {
		return true
	}
	p.setVec(f)
	p.tryN, p.tryErr = 0, nil
	if err := p.raw.Write(p.tryWrite); err != nil {
		p.err = fmt.Errorf("write part: %w", err)
		return false
	}
	switch err := p.tryErr; {
	case err == nil && p.tryN == len(p.buf)+len(f.Data)+len(p.end):
		p.last = f
		p.sent++
		return true
	case err == nil, errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		p.partial, p.partialDone = f, p.tryN
	default:
		p.err = fmt.Errorf("write part: %w", err)
	}
	return false
}

// writev is TryTake's one writev(2) on the socket; it never waits for the
// socket to take more. The socket is non-blocking (Go's), so the call is
// raw: the runtime's bookkeeping for a call that may block (entersyscall,
// which also wakes the runtime's monitor thread when it sleeps) was 3.5 %
// of camrec's CPU at 10 clients (a CPU profile in make bench-peers' VM).
func (p *partWriter) writev(fd uintptr) bool {
	n := 0
	for _, b := range p.vec {
		if len(b) > 0 {
			p.iov[n].Base = &b[0]
			p.iov[n].SetLen(len(b))
			n++
		}
	}
	r, _, errno := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&p.iov[0])), uintptr(n))
	p.tryN, p.tryErr = int(r), nil
	if errno != 0 {
		p.tryN, p.tryErr = 0, errno
	}
	return true
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
