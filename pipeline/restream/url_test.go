package restream

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/flv"
	"github.com/camrec/camrec/internal/h264"
	"github.com/camrec/camrec/internal/testutil"
)

func slogTo(b *testutil.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestParseURL(t *testing.T) {
	cases := []struct {
		in, err, redacted string
	}{
		{"rtsp://mediamtx.lan:8554/garage", "", "rtsp://mediamtx.lan:8554/garage"},
		{"rtsps://u:p@h/x", "", "rtsps://u:xxxxx@h/x"},
		{"rtmp://h/live/x", "", "rtmp://h/live/x"},
		{"srt://h:8890?streamid=publish:x&passphrase=topsecret1", "", "srt://h:8890?passphrase=xxxxx&streamid=publish%3Ax"},
		{"http://h/x", `scheme "http"`, ""},
		{"rtsp:///x", "no host", ""},
		{"rtsp://u:topsecret1@/x", "no host", ""},
		{"::", "not a URL", ""},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			u, err := ParseURL(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrBadURL) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				if strings.Contains(err.Error(), "topsecret1") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := Redact(u); got != c.redacted {
				t.Fatalf("Redact = %q, want %q", got, c.redacted)
			}
		})
	}
}

// TestStampRoundTrip: the capture time written as the publisher writes it
// (appendCaptureSEI into flv.AppendVideo) is read back by CaptureTime, also
// for times whose bytes need emulation prevention, and the SEI goes right
// before the first slice.
func TestStampRoundTrip(t *testing.T) {
	au := []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 0x88, 4}
	for _, at := range []time.Time{
		time.UnixMicro(0x0000_0000_0001_0000), // 00 00 00 ... 01 00 00
		time.UnixMicro(1764700000123456),
		time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC),
	} {
		in := h264.Inspect(au)
		tag := flv.AppendVideo(flv.AppendHeader(nil, in.SPS, in.PPS), au, true, 0, appendCaptureSEI(nil, at))
		v, err := flv.NewReader(bytes.NewReader(tag), 1<<20).Next()
		if err != nil {
			t.Fatal(err)
		}
		out := v.Data
		var types []int
		var got time.Time
		found := false
		it := iterNALs(out)
		for _, nal := range it {
			types = append(types, int(nal[0]&0x1f))
			if ts, ok := CaptureTime(nal); ok {
				got, found = ts, true
			}
		}
		if !found || !got.Equal(at) {
			t.Fatalf("stamp of %v read back as %v (found %v)", at, got, found)
		}
		if want := []int{7, 8, 6, 5}; !slices.Equal(types, want) {
			t.Fatalf("NAL types %v, want %v", types, want)
		}
	}
}

func iterNALs(b []byte) [][]byte {
	var out [][]byte
	it := h264.Iter(b)
	for nal, ok := it.Next(); ok; nal, ok = it.Next() {
		out = append(out, nal)
	}
	return out
}
