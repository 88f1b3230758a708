package h264

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Errors of Reader.Next after which the caller may call Next again.
var (
	// ErrSkipped: Next discarded bytes that are not part of an access
	// unit (bytes before the first start code, a unit without a slice).
	ErrSkipped = errors.New("h264: skipped bytes")
	// ErrUnitTooLarge: an access unit grew past the Reader's limit and
	// was discarded. Errors matching it also match ErrSkipped.
	ErrUnitTooLarge = fmt.Errorf("%w: access unit too large", ErrSkipped)
)

const readChunk = 64 << 10

// Unit is one access unit as Reader.Next returns it.
type Unit struct {
	// Data is the unit in Annex B form, a new slice the caller owns; a
	// keyframe without SPS/PPS has the last ones seen in front.
	Data []byte
	// Key: the unit holds an IDR picture (and, in Data, an SPS and PPS
	// when the stream has sent them at least once).
	Key bool
}

// Reader splits an Annex B byte stream into access units. A unit ends
// where the next begins: at an access unit delimiter, SPS, PPS or SEI,
// or at a slice that starts a new picture (first_mb_in_slice == 0), once
// the current unit holds a slice. So a unit is returned when the first
// bytes of the next one have arrived (one frame of latency), or at the end
// of the stream.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r      io.Reader
	max    int
	buf    []byte
	start  int // buf offset of the current unit (its first start code); -1 while seeking
	scan   int // next offset to look for a start code
	end    int // buf[:end] holds data read from r
	hasVCL bool
	err    error
	params Params
}

// NewReader returns a Reader of r that discards units larger than maxUnit
// bytes.
func NewReader(r io.Reader, maxUnit int) *Reader {
	return &Reader{r: r, max: maxUnit, buf: make([]byte, 0, readChunk), start: -1}
}

// SPS returns what the stream's last SPS says, false before one was read.
func (d *Reader) SPS() (SPSInfo, bool) { return d.params.SPS() }

// Next returns the next access unit. Errors matching ErrSkipped are
// followed by more units; io.EOF and read errors end the stream.
func (d *Reader) Next() (Unit, error) {
	for {
		// Look for the next start code with its NAL header and the
		// byte after it.
		if d.scan < d.end {
			i := bytes.Index(d.buf[d.scan:d.end], startCode)
			if i >= 0 && d.scan+i+5 <= d.end {
				sc := d.scan + i
				if d.start < 0 && sc > 0 && bytes.ContainsFunc(d.buf[:sc], func(r rune) bool { return r != 0 }) {
					// Junk before the first start code.
					d.drop(sc)
					return Unit{}, ErrSkipped
				}
				nal := d.buf[sc+3 : d.end]
				d.scan = sc + 3
				if u, err, ok := d.atStartCode(sc, nal); ok {
					return u, err
				}
				continue
			}
			if i < 0 {
				// Keep two bytes: a start code may straddle the read.
				d.scan = max(d.scan, d.end-2)
			} else {
				d.scan += i
			}
		}
		if d.start < 0 && d.scan > 0 {
			// Seeking: what lies before a start code is not kept; zero
			// bytes (a start code's leading zeros) are not worth a report.
			junk := bytes.ContainsFunc(d.buf[:d.scan], func(r rune) bool { return r != 0 })
			d.drop(d.scan)
			if junk {
				return Unit{}, ErrSkipped
			}
		}
		if d.err != nil {
			return d.atEnd()
		}
		if d.start >= 0 && d.end-d.start > d.max {
			d.drop(d.end)
			d.start, d.hasVCL = -1, false
			return Unit{}, ErrUnitTooLarge
		}
		d.fill()
	}
}

// atStartCode handles the NAL unit whose start code is at sc: it may end
// the current unit (ok, with it or an error) or begin one.
func (d *Reader) atStartCode(sc int, nal []byte) (Unit, error, bool) {
	t := Type(nal)
	begins := t == NALAUD || t == NALSPS || t == NALPPS || t == NALSEI || (t >= 14 && t <= 18) ||
		(isVCL(t) && firstMBZero(nal))
	if d.start < 0 {
		d.start = sc
		d.hasVCL = isVCL(t)
		return Unit{}, nil, false
	}
	if !d.hasVCL || !begins {
		d.hasVCL = d.hasVCL || isVCL(t)
		return Unit{}, nil, false
	}
	end := sc
	for end > d.start && d.buf[end-1] == 0 {
		end--
	}
	u := d.unit(d.buf[d.start:end])
	d.start, d.hasVCL = sc, isVCL(t)
	return u, nil, true
}

// unit copies au out (with SPS/PPS in front of a keyframe lacking them).
func (d *Reader) unit(au []byte) Unit {
	in := Inspect(au)
	d.params.Update(in)
	out := d.params.AppendUnit(make([]byte, 0, len(au)+d.params.Missing(in)), au, in)
	return Unit{Data: out, Key: in.Key}
}

// atEnd returns the last unit, then the read error.
func (d *Reader) atEnd() (Unit, error) {
	if d.start >= 0 {
		au, hasVCL := d.buf[d.start:d.end], d.hasVCL
		d.start, d.hasVCL = -1, false
		d.drop(d.end)
		if hasVCL {
			return d.unit(au), nil
		}
		return Unit{}, ErrSkipped
	}
	return Unit{}, d.err
}

// drop discards buf[:n] (n must not pass the current unit's start).
func (d *Reader) drop(n int) {
	if n <= 0 {
		return
	}
	copy(d.buf, d.buf[n:d.end])
	d.end -= n
	d.scan = max(0, d.scan-n)
	if d.start >= 0 {
		d.start -= n
	}
}

// fill reads more, first moving the current unit to the buffer's start.
func (d *Reader) fill() {
	if d.start > 0 {
		d.drop(d.start)
	}
	if len(d.buf)-d.end < readChunk/2 {
		nb := make([]byte, 2*len(d.buf)+readChunk)
		copy(nb, d.buf[:d.end])
		d.buf = nb
	}
	for range 100 {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if err != nil {
			d.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	d.err = io.ErrNoProgress
}
