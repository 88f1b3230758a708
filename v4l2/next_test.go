package v4l2

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/blackjack/webcam"
)

func TestNextYUYV(t *testing.T) {
	// 4x2 pixels, lines padded to 12 bytes.
	padded := []byte{
		1, 2, 3, 4, 5, 6, 7, 8, 0xEE, 0xEE, 0xEE, 0xEE,
		9, 10, 11, 12, 13, 14, 15, 16, 0xEE, 0xEE, 0xEE, 0xEE,
	}
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	tests := []struct {
		name    string
		stride  int
		data    []byte
		want    []byte
		wantErr error
	}{
		{"packed", 8, want, want, nil},
		{"padded lines", 12, padded, want, nil},
		{"last line unpadded", 12, padded[:20], want, nil},
		{"short", 8, want[:15], nil, ErrInvalidFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := newFakeDevice(step{data: tt.data})
			d.mode = Mode{Format: FormatYUYV, Width: 4, Height: 2, Stride: tt.stride}
			f, err := d.Next(t.Context(), nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(f.Data, tt.want) {
				t.Fatalf("data = %v, want %v", f.Data, tt.want)
			}
		})
	}
}

// H.264 buffers: copied without the zero bytes after the unit, keyframes
// flagged and given the SPS/PPS seen before, buffers without a slice
// refused.
func TestNextH264(t *testing.T) {
	sps := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40}
	pps := []byte{0, 0, 0, 1, 0x68, 0xce, 0x0f, 0xc8}
	idr := []byte{0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21}
	p := []byte{0, 0, 0, 1, 0x41, 0x9a, 0x22}
	first := append(append(append([]byte(nil), sps...), pps...), idr...)
	d, _ := newFakeDevice(
		step{data: append(append([]byte(nil), first...), 0, 0, 0, 0)},
		step{data: p},
		step{data: idr},
		step{data: sps},
	)
	d.mode = Mode{Format: FormatH264, Width: 320, Height: 240}
	for i, want := range []struct {
		data []byte
		key  bool
	}{{first, true}, {p, false}, {first, true}} {
		f, err := d.Next(t.Context(), nil)
		if err != nil || !bytes.Equal(f.Data, want.data) || f.Key != want.key {
			t.Fatalf("frame %d: % x key=%v err=%v; want % x key=%v", i, f.Data, f.Key, err, want.data, want.key)
		}
	}
	if _, err := d.Next(t.Context(), nil); !errors.Is(err, ErrInvalidFrame) {
		t.Fatalf("SPS alone: err = %v, want ErrInvalidFrame", err)
	}
}

func TestNextDriverMetadata(t *testing.T) {
	jpg := testJPEG(t, 16, 16)
	captured := time.Now().Add(-40 * time.Millisecond)
	d, f := newFakeDevice(
		step{data: jpg, corrupt: true, seq: 6},
		step{waitErr: new(webcam.Timeout)},
		step{waitErr: new(webcam.Timeout)},
		step{data: jpg, time: captured, seq: 7},
	)
	_, err := d.Next(t.Context(), nil)
	if !errors.Is(err, ErrCorruptFrame) {
		t.Fatalf("flagged buffer: err = %v, want ErrCorruptFrame", err)
	}
	if f.held {
		t.Fatal("flagged buffer not requeued")
	}
	idles := 0
	fr, err := d.Next(t.Context(), func() { idles++ })
	if err != nil {
		t.Fatal(err)
	}
	if idles != 2 {
		t.Errorf("idle called %d times over two timeouts, want 2", idles)
	}
	if !fr.Time.Equal(captured) || fr.Sequence != 7 || !bytes.Equal(fr.Data, jpg) {
		t.Errorf("frame time %v seq %d (%d bytes), want the driver's %v, 7", fr.Time, fr.Sequence, len(fr.Data), captured)
	}
}

func TestMonoToWall(t *testing.T) {
	wall := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mono := 1000 * time.Second
	tests := []struct {
		name     string
		captured time.Duration
		want     time.Time
	}{
		{"40 ms ago", mono - 40*time.Millisecond, wall.Add(-40 * time.Millisecond)},
		{"now", mono, wall},
		{"from the future", mono + time.Second, wall},
		{"implausibly old", mono - time.Minute, wall},
	}
	for _, tt := range tests {
		if got := monoToWall(tt.captured, wall, mono); !got.Equal(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := monoToWall(5, wall, 0); !got.Equal(wall) {
		t.Errorf("unknown monotonic clock: %v, want now", got)
	}
}

func TestOpenMissingIsDisconnected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "video7")
	_, err := Open(path, Request{}, nil)
	if !errors.Is(err, ErrDisconnected) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want ErrDisconnected and ErrNotExist", err)
	}
}
