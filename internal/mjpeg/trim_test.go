package mjpeg

import (
	"bytes"
	"errors"
	"testing"
)

func TestTrim(t *testing.T) {
	frame := encodeTestJPEG(t, 32, 16)
	withThumb := WithComment(frame, "thumb \xff\xd8\xff\xd9 inside")
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr error
	}{
		{"exact", frame, frame, nil},
		{"zero padding after", append(bytes.Clone(frame), make([]byte, 100)...), frame, nil},
		{"stale tail ending in EOI is cut off", append(bytes.Clone(frame), 1, 2, 0xFF, 0xD9), frame, nil},
		{"EOI inside a header segment", withThumb, withThumb, nil},
		{"shortest", []byte{0xFF, 0xD8, 0xFF, 0xD9, 0}, []byte{0xFF, 0xD8, 0xFF, 0xD9}, nil},
		{"empty", nil, nil, ErrNoSOI},
		{"junk before SOI", append([]byte{0}, frame...), nil, ErrNoSOI},
		{"no EOI", frame[:len(frame)-2], nil, ErrNoEOI},
		{"SOI only", []byte{0xFF, 0xD8, 0xD9}, nil, ErrNoEOI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Trim(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(tt.want))
			}
			if len(got) > 0 && &got[0] != &tt.in[0] {
				t.Error("result is a copy, want a subslice")
			}
		})
	}
}

func TestSize(t *testing.T) {
	ff := ffmpegFrames(t)[0]
	tests := []struct {
		name    string
		in      []byte
		wantW   int
		wantH   int
		wantErr error
	}{
		{"go 1x1", encodeTestJPEG(t, 1, 1), 1, 1, nil},
		{"go 17x9", encodeTestJPEG(t, 17, 9), 17, 9, nil},
		{"go 642x362", encodeTestJPEG(t, 642, 362), 642, 362, nil},
		{"go 1280x720", encodeTestJPEG(t, 1280, 720), 1280, 720, nil},
		{"ffmpeg 160x120 with JFIF and COM", ff, 160, 120, nil},
		{"fill bytes before markers", append([]byte{0xFF, 0xD8, 0xFF, 0xFF}, ff[2:]...), 160, 120, nil},
		{"not a JPEG", []byte("hello"), 0, 0, ErrNoSOI},
		{"header cut short", ff[:30], 0, 0, ErrBadSegment},
		{"no SOF before SOS", removeSegments(t, ff, markerSOF0), 0, 0, ErrNoSOF},
		{"bad length", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0, 0}, 0, 0, ErrBadSegment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h, err := Size(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if w != tt.wantW || h != tt.wantH {
				t.Fatalf("size = %dx%d, want %dx%d", w, h, tt.wantW, tt.wantH)
			}
		})
	}
}

// TestTrimIgnoresEOIInJunk: v4l2loopback's first frame is the JPEG followed
// by the rest of the buffer, which can hold the tail of an older, longer
// frame with its own EOI. The frame must end at its own EOI.
func TestTrimIgnoresEOIInJunk(t *testing.T) {
	img := encodeTestJPEG(t, 64, 48)
	junk := append([]byte{0x12, 0x34, 0xFF, 0x00, 0x56}, 0xFF, markerEOI, 0x00, 0x00)
	got, err := Trim(append(append([]byte{}, img...), junk...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, img) {
		t.Fatalf("trimmed to %d bytes, want the %d-byte JPEG", len(got), len(img))
	}
}
