package mjpeg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Errors of Reader.Next after which the caller may call Next again.
var (
	// ErrSkipped: Next discarded bytes that are not part of a complete
	// frame (garbage between frames, a truncated or malformed frame). The
	// caller typically counts one invalid frame and calls Next again.
	ErrSkipped = errors.New("mjpeg: skipped bytes")
	// ErrFrameTooLarge: a frame grew past the Reader's limit and was
	// discarded. Errors matching it also match ErrSkipped.
	ErrFrameTooLarge = errors.New("mjpeg: frame too large")
)

const (
	readChunk    = 64 << 10
	maxEmptyRead = 100
)

type readerState uint8

const (
	stateSeek   readerState = iota // looking for SOI
	stateHeader                    // walking marker segments
	stateScan                      // in entropy-coded data
)

var soi = []byte{0xFF, markerSOI}

// Reader splits a concatenated MJPEG byte stream (what `ffmpeg -f mjpeg` or
// `rpicam-vid --codec mjpeg -o -` write) into frames. It finds each frame's
// end by walking its marker segments up to SOS and then scanning the
// entropy-coded data for EOI, skipping stuffed bytes (FF 00) and restart
// markers, so a frame is returned as soon as its last byte has been read.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r     io.Reader
	max   int
	buf   []byte
	start int // buf offset of the current frame, or of unexamined bytes while seeking
	pos   int // scan position; may run past end after a segment length
	end   int // buf[:end] holds data read from r
	state readerState

	sawScan  bool  // the current frame has had an SOS
	junk     int   // bytes discarded since the last report
	tooLarge bool  // junk includes a frame over max
	skipped  int64 // bytes discarded and reported, in total
	err      error // sticky error from r
}

// NewReader returns a Reader of r that rejects frames larger than maxFrame
// bytes.
func NewReader(r io.Reader, maxFrame int) *Reader {
	if maxFrame < 4 {
		maxFrame = 4
	}
	return &Reader{r: r, max: maxFrame}
}

// Skipped returns how many bytes Next has discarded so far. Every byte read
// from the stream ends up either in a returned frame or here.
func (r *Reader) Skipped() int64 { return r.skipped }

// Next returns the next complete frame, SOI to EOI, in a newly allocated
// slice that the caller owns. At the clean end of the stream it returns
// io.EOF. An error matching ErrSkipped (and ErrFrameTooLarge for an
// oversized frame) reports discarded bytes; Next may then be called again.
// Any other error comes from the underlying reader and is returned again by
// later calls.
func (r *Reader) Next() ([]byte, error) {
	for {
		switch r.state {
		case stateSeek:
			if i := bytes.Index(r.buf[r.pos:r.end], soi); i >= 0 {
				r.discard(r.pos + i)
				r.beginFrame()
				if r.junk > 0 {
					return nil, r.report()
				}
				continue
			}
			keep := r.end // a last 0xFF may be the first half of an SOI
			if keep > r.pos && r.buf[keep-1] == 0xFF {
				keep--
			}
			r.discard(keep)
			if err := r.fill(); err != nil {
				return nil, r.atEnd(err)
			}

		case stateHeader:
			if r.pos+2 > r.end {
				if err := r.more(); err != nil {
					return nil, err
				}
				continue
			}
			if r.buf[r.pos] != 0xFF {
				r.abandon(r.start + 2)
				continue
			}
			m := r.buf[r.pos+1]
			switch {
			case m == 0xFF: // fill byte
				r.pos++
				continue
			case m == markerSOI: // the frame was cut short; a new one starts
				r.discard(r.pos)
				r.beginFrame()
				return nil, r.report()
			case m == markerEOI:
				if !r.sawScan {
					r.abandon(r.pos + 2)
					continue
				}
				if f, ok := r.emit(r.pos + 2); ok {
					return f, nil
				}
				continue
			case m == 0x00:
				r.abandon(r.start + 2)
				continue
			case standalone(m):
				r.pos += 2
				continue
			}
			if r.pos+4 > r.end {
				if err := r.more(); err != nil {
					return nil, err
				}
				continue
			}
			n := int(r.buf[r.pos+2])<<8 | int(r.buf[r.pos+3])
			if n < 2 {
				r.abandon(r.start + 2)
				continue
			}
			r.pos += 2 + n
			if m == markerSOS {
				r.sawScan = true
				r.state = stateScan
			}

		case stateScan:
			if r.pos >= r.end {
				if err := r.more(); err != nil {
					return nil, err
				}
				continue
			}
			i := bytes.IndexByte(r.buf[r.pos:r.end], 0xFF)
			if i < 0 {
				r.pos = r.end
				continue
			}
			p := r.pos + i
			if p+1 >= r.end {
				r.pos = p
				if err := r.more(); err != nil {
					return nil, err
				}
				continue
			}
			switch m := r.buf[p+1]; {
			case m == 0x00 || (m >= markerRST0 && m <= markerRST7):
				r.pos = p + 2
			case m == 0xFF:
				r.pos = p + 1
			case m == markerEOI:
				if f, ok := r.emit(p + 2); ok {
					return f, nil
				}
			case m == markerSOI:
				r.discard(p)
				r.beginFrame()
				return nil, r.report()
			default: // another segment: a progressive or multi-scan frame
				r.pos = p
				r.state = stateHeader
			}
		}
	}
}

// beginFrame starts a frame at r.start, which holds an SOI.
func (r *Reader) beginFrame() {
	r.pos = r.start + 2
	r.state = stateHeader
	r.sawScan = false
}

// emit copies out the frame buf[start:end] and resumes seeking after it.
// It reports false when the frame is over the limit and was given up.
func (r *Reader) emit(end int) ([]byte, bool) {
	if end-r.start > r.max {
		r.tooLarge = true
		r.abandon(end)
		return nil, false
	}
	out := make([]byte, end-r.start)
	copy(out, r.buf[r.start:end])
	r.start, r.pos = end, end
	r.state = stateSeek
	return out, true
}

// abandon gives up the current frame: its bytes become junk and seeking
// resumes at from.
func (r *Reader) abandon(from int) {
	r.pos = min(from, r.end)
	r.state = stateSeek
}

// discard drops buf[start:to] as junk.
func (r *Reader) discard(to int) {
	r.junk += to - r.start
	r.start = to
	if r.pos < to {
		r.pos = to
	}
}

// report returns the error for the junk discarded since the last report.
func (r *Reader) report() error {
	n := r.junk
	r.skipped += int64(n)
	r.junk = 0
	if r.tooLarge {
		r.tooLarge = false
		return fmt.Errorf("%w: %w: over %d bytes, skipped %d bytes", ErrSkipped, ErrFrameTooLarge, r.max, n)
	}
	return fmt.Errorf("%w: %d bytes that are not a complete frame", ErrSkipped, n)
}

// more reads more data for the frame in progress, giving the frame up when
// it has grown past the limit. A non-nil error is Next's result.
func (r *Reader) more() error {
	if r.pos-r.start > r.max {
		r.tooLarge = true
		r.abandon(r.pos)
		return nil
	}
	if err := r.fill(); err != nil {
		return r.atEnd(err)
	}
	return nil
}

// atEnd turns the underlying reader's error into Next's.
func (r *Reader) atEnd(err error) error {
	if !errors.Is(err, io.EOF) {
		return fmt.Errorf("mjpeg: read: %w", err)
	}
	r.discard(r.end)
	r.pos = r.end
	r.state = stateSeek
	if r.junk > 0 {
		return r.report()
	}
	return io.EOF
}

// fill reads at least one more byte into buf, compacting or growing it.
func (r *Reader) fill() error {
	if r.err != nil {
		return r.err
	}
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.pos -= r.start
		r.end = n
		r.start = 0
	}
	if r.end == len(r.buf) {
		limit := r.max + 8 // a frame in progress never needs more
		size := min(max(2*len(r.buf), readChunk), max(limit, readChunk))
		if size <= len(r.buf) {
			// Unreachable: more gives a frame up before it fills the buffer.
			r.tooLarge = true
			r.abandon(r.end)
			return nil
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range maxEmptyRead {
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			r.err = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	r.err = io.ErrNoProgress
	return r.err
}
