package mjpeg

import (
	"bytes"
	"image/jpeg"
	"math"
	"testing"
)

func TestWithComment(t *testing.T) {
	orig := encodeTestJPEG(t, 32, 32)
	text := FormatCamrecComment(42, 1764067200123456789)
	got := WithComment(orig, text)
	if c, ok := Comment(got); !ok || c != text {
		t.Fatalf("Comment = %q, %v; want %q", c, ok, text)
	}
	if _, err := jpeg.Decode(bytes.NewReader(got)); err != nil {
		t.Fatalf("decode with comment: %v", err)
	}
	if _, ok := Comment(orig); ok {
		t.Error("Comment found a comment in a JPEG without one")
	}
	if c, ok := Comment(ffmpegFrames(t)[0]); !ok || c != "Lavc59.37.100\x00" {
		t.Errorf("Comment of ffmpeg frame = %q, %v", c, ok)
	}
	// The first comment wins.
	if c, _ := Comment(WithComment(got, "newer")); c != "newer" {
		t.Errorf("Comment = %q, want the first one", c)
	}
}

func TestCamrecComment(t *testing.T) {
	tests := []struct {
		text string
		seq  uint64
		ts   int64
		ok   bool
	}{
		{"camrec seq=0 ts=0", 0, 0, true},
		{"camrec seq=123 ts=1764067200123456789", 123, 1764067200123456789, true},
		{"camrec seq=18446744073709551615 ts=-5", math.MaxUint64, -5, true},
		{"camrec seq=01 ts=5", 0, 0, false},
		{"camrec seq=1 ts=+5", 0, 0, false},
		{"camrec seq=1  ts=5", 0, 0, false},
		{"camrec seq=1 ts=5 ", 0, 0, false},
		{"camrec seq= ts=5", 0, 0, false},
		{"camrec seq=1", 0, 0, false},
		{"Lavc59.37.100", 0, 0, false},
	}
	for _, tt := range tests {
		seq, ts, ok := ParseCamrecComment(tt.text)
		if seq != tt.seq || ts != tt.ts || ok != tt.ok {
			t.Errorf("ParseCamrecComment(%q) = %d, %d, %v; want %d, %d, %v", tt.text, seq, ts, ok, tt.seq, tt.ts, tt.ok)
		}
		if tt.ok && FormatCamrecComment(tt.seq, tt.ts) != tt.text {
			t.Errorf("FormatCamrecComment(%d, %d) = %q", tt.seq, tt.ts, FormatCamrecComment(tt.seq, tt.ts))
		}
	}
}
