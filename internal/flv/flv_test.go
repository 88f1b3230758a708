package flv

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

var (
	sps = []byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9}
	pps = []byte{0x68, 0xeb, 0xe3, 0xcb}
	idr = []byte{0x65, 0x88, 0x84, 0x00, 0x33}
	p1  = []byte{0x41, 0x9a, 0x21, 0x6c}
)

func annexB(nals ...[]byte) []byte {
	var b []byte
	for _, n := range nals {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	return b
}

// TestRoundTrip: what AppendHeader and AppendVideo write, Reader gives
// back: the units, their keyframe flags and times, and the SPS and PPS in
// front of a keyframe that did not carry them.
func TestRoundTrip(t *testing.T) {
	aud := []byte{0x09, 0xf0}
	units := []struct {
		au   []byte
		key  bool
		ms   int64
		want []byte
	}{
		{annexB(sps, pps, idr), true, 0, annexB(sps, pps, idr)},
		{annexB(aud, p1), false, 33, annexB(p1)}, // the AUD is left out
		{annexB(p1), false, 1 << 24, annexB(p1)}, // past 24 bits: the extension byte
		{annexB(idr), true, 5000, annexB(sps, pps, idr)},
	}
	buf := AppendHeader(nil, sps, pps)
	for _, u := range units {
		buf = AppendVideo(buf, u.au, u.key, u.ms)
	}
	r := NewReader(bytes.NewReader(buf), 1<<20)
	for i, u := range units {
		v, err := r.Next()
		if err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
		if !bytes.Equal(v.Data, u.want) || v.Key != u.key || v.MS != u.ms {
			t.Errorf("unit %d: got %x key=%v ms=%d, want %x key=%v ms=%d", i, v.Data, v.Key, v.MS, u.want, u.key, u.ms)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last unit: %v, want io.EOF", err)
	}
}

func TestReaderRefusesBadInput(t *testing.T) {
	good := AppendVideo(AppendHeader(nil, sps, pps), annexB(sps, pps, idr), true, 0)
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"not FLV", []byte("RIFF0000000000000"), ErrFormat},
		{"cut inside a tag", good[:len(good)-6], io.ErrUnexpectedEOF},
		{"tag over the limit", good, ErrFormat}, // limit 8 bytes below
		{"NAL length overruns", func() []byte {
			b := bytes.Clone(good)
			b[len(b)-4-len(idr)-4-len(pps)-4-len(sps)-4] = 0x7f // first NAL's length
			return b
		}(), ErrFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			limit := 1 << 20
			if c.name == "tag over the limit" {
				limit = 8
			}
			_, err := NewReader(bytes.NewReader(c.in), limit).Next()
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}
