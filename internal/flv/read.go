package flv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrFormat: the stream is not FLV carrying H.264 as AppendHeader and
// ffmpeg's FLV muxer write it.
var ErrFormat = errors.New("flv: not an H.264 FLV stream")

// Video is one H.264 frame read from FLV.
type Video struct {
	// Data is the access unit in Annex B form (4-byte start codes), a new
	// slice the caller owns; a keyframe has the stream's SPS and PPS in
	// front.
	Data []byte
	Key  bool
	// MS is the tag's timestamp in milliseconds.
	MS int64
}

// Reader reads the video frames of an FLV stream. Tags other than video
// (audio, script data) are skipped. Not safe for concurrent use.
type Reader struct {
	r        *bufio.Reader
	max      int
	header   bool
	sps, pps []byte
	lenSize  int
	hdr      [11]byte
}

// NewReader returns a Reader of r that refuses tags larger than maxTag
// bytes.
func NewReader(r io.Reader, maxTag int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), max: maxTag, lenSize: 4}
}

// Next returns the next video frame. At the end of the stream it returns
// io.EOF (io.ErrUnexpectedEOF inside a tag); a malformed stream gives an
// error wrapping ErrFormat.
func (d *Reader) Next() (Video, error) {
	if !d.header {
		var h [13]byte
		if _, err := io.ReadFull(d.r, h[:]); err != nil {
			return Video{}, err
		}
		if h[0] != 'F' || h[1] != 'L' || h[2] != 'V' {
			return Video{}, fmt.Errorf("%w: no FLV signature", ErrFormat)
		}
		if skip := int(binary.BigEndian.Uint32(h[5:9])) - 9; skip > 0 {
			if _, err := d.r.Discard(skip); err != nil {
				return Video{}, noEOF(err)
			}
		}
		d.header = true
	}
	for {
		if _, err := io.ReadFull(d.r, d.hdr[:]); err != nil {
			return Video{}, err
		}
		kind := d.hdr[0] & 0x1f
		size := int(d.hdr[1])<<16 | int(d.hdr[2])<<8 | int(d.hdr[3])
		ms := int64(uint32(d.hdr[7])<<24 | uint32(d.hdr[4])<<16 | uint32(d.hdr[5])<<8 | uint32(d.hdr[6]))
		if size > d.max {
			return Video{}, fmt.Errorf("%w: tag of %d bytes (limit %d)", ErrFormat, size, d.max)
		}
		if kind != 9 || size < 5 {
			if _, err := d.r.Discard(size + 4); err != nil {
				return Video{}, noEOF(err)
			}
			continue
		}
		body := make([]byte, size+4) // and the previous-tag-size field
		if _, err := io.ReadFull(d.r, body); err != nil {
			return Video{}, noEOF(err)
		}
		body = body[:size]
		if body[0]&0x0f != 7 {
			return Video{}, fmt.Errorf("%w: video codec %d, not AVC", ErrFormat, body[0]&0x0f)
		}
		key := body[0]>>4 == 1
		switch body[1] {
		case 0:
			if err := d.config(body[5:]); err != nil {
				return Video{}, err
			}
			continue
		case 1:
			au, err := d.annexB(body[5:], key)
			if err != nil {
				return Video{}, err
			}
			return Video{Data: au, Key: key, MS: ms}, nil
		default: // end of sequence
			continue
		}
	}
}

// noEOF turns an end of stream inside a tag into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// config reads an AVCDecoderConfigurationRecord: the NAL length size and
// the first SPS and PPS.
func (d *Reader) config(b []byte) error {
	if len(b) < 7 {
		return fmt.Errorf("%w: short AVC sequence header", ErrFormat)
	}
	d.lenSize = int(b[4]&3) + 1
	n := int(b[5] & 0x1f)
	p := 6
	d.sps, d.pps = nil, nil
	for i := 0; i < n; i++ {
		if p+2 > len(b) {
			return fmt.Errorf("%w: short SPS in the sequence header", ErrFormat)
		}
		l := int(binary.BigEndian.Uint16(b[p:]))
		if p+2+l > len(b) {
			return fmt.Errorf("%w: short SPS in the sequence header", ErrFormat)
		}
		if d.sps == nil {
			d.sps = append([]byte(nil), b[p+2:p+2+l]...)
		}
		p += 2 + l
	}
	if p >= len(b) {
		return fmt.Errorf("%w: no PPS in the sequence header", ErrFormat)
	}
	n = int(b[p])
	p++
	for i := 0; i < n; i++ {
		if p+2 > len(b) {
			return fmt.Errorf("%w: short PPS in the sequence header", ErrFormat)
		}
		l := int(binary.BigEndian.Uint16(b[p:]))
		if p+2+l > len(b) {
			return fmt.Errorf("%w: short PPS in the sequence header", ErrFormat)
		}
		if d.pps == nil {
			d.pps = append([]byte(nil), b[p+2:p+2+l]...)
		}
		p += 2 + l
	}
	return nil
}

// annexB converts length-prefixed NAL units to Annex B, with the SPS and
// PPS in front of a keyframe that does not carry its own.
func (d *Reader) annexB(b []byte, key bool) ([]byte, error) {
	var hasSPS bool
	size := 0
	for p := 0; p < len(b); {
		l, err := d.nalLen(b, p)
		if err != nil {
			return nil, err
		}
		if b[p+d.lenSize]&0x1f == 7 {
			hasSPS = true
		}
		size += 4 + l
		p += d.lenSize + l
	}
	prefix := key && !hasSPS && d.sps != nil && d.pps != nil
	if prefix {
		size += 8 + len(d.sps) + len(d.pps)
	}
	out := make([]byte, 0, size)
	if prefix {
		out = append(append(out, 0, 0, 0, 1), d.sps...)
		out = append(append(out, 0, 0, 0, 1), d.pps...)
	}
	for p := 0; p < len(b); {
		l, _ := d.nalLen(b, p)
		out = append(append(out, 0, 0, 0, 1), b[p+d.lenSize:p+d.lenSize+l]...)
		p += d.lenSize + l
	}
	return out, nil
}

// nalLen is the length of the NAL unit whose length field is at b[p:].
func (d *Reader) nalLen(b []byte, p int) (int, error) {
	if p+d.lenSize > len(b) {
		return 0, fmt.Errorf("%w: truncated NAL length", ErrFormat)
	}
	l := 0
	for i := 0; i < d.lenSize; i++ {
		l = l<<8 | int(b[p+i])
	}
	if l == 0 || p+d.lenSize+l > len(b) {
		return 0, fmt.Errorf("%w: NAL unit of %d bytes overruns its tag", ErrFormat, l)
	}
	return l, nil
}
