package mjpeg

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// readerCase is one stream for Reader; the cases also seed FuzzReader.
type readerCase struct {
	name        string
	stream      []byte
	maxFrame    int
	wantFrames  [][]byte
	wantSkips   int // errors matching ErrSkipped
	wantTooBig  int // of which match ErrFrameTooLarge
	wantSkipped int64
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func readerCases(tb testing.TB) []readerCase {
	a := encodeTestJPEG(tb, 48, 32)
	b := encodeTestJPEG(tb, 33, 17)
	big := encodeTestJPEG(tb, 320, 240)
	ff := ffmpegFrames(tb)
	sof := []byte{0xFF, 0xC0, 0x00, 0x0B, 8, 0, 16, 0, 16, 1, 1, 0x11, 0}
	sos := []byte{0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 0x3F, 0}
	// Entropy data with stuffed bytes, restart markers and fill bytes; not
	// decodable, but shaped like a real scan.
	rst := cat([]byte{0xFF, 0xD8}, sof, sos,
		[]byte{0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD7, 0xFF, 0x00, 0xFF, 0xFF, 0xFF, 0xD9})
	dht := []byte{0xFF, 0xC4, 0x00, 0x04, 0x01, 0x02}
	multiScan := cat([]byte{0xFF, 0xD8}, sof, sos, []byte{1, 2, 3}, dht, sos, []byte{4, 0xFF, 0x00}, []byte{0xFF, 0xD9})
	eoiInComment := WithComment(a, "\xff\xd9 and \xff\xd8 in a comment")
	return []readerCase{
		{name: "empty"},
		{name: "one frame", stream: a, wantFrames: [][]byte{a}},
		{name: "ffmpeg stream", stream: cat(ff...), wantFrames: ff},
		{name: "EOI and SOI inside a header segment", stream: cat(eoiInComment, b), wantFrames: [][]byte{eoiInComment, b}},
		{name: "stuffing and restart markers", stream: cat(rst, rst), wantFrames: [][]byte{rst, rst}},
		{name: "several scans", stream: cat(multiScan, a), wantFrames: [][]byte{multiScan, a}},
		{name: "garbage around frames", stream: cat([]byte("xx"), a, []byte("yyy"), b, []byte("zz")),
			wantFrames: [][]byte{a, b}, wantSkips: 3, wantSkipped: 7},
		{name: "zero padding after each frame", stream: cat(a, make([]byte, 50), b, make([]byte, 50)),
			wantFrames: [][]byte{a, b}, wantSkips: 2, wantSkipped: 100},
		{name: "truncated frame then a whole one", stream: cat(a[:len(a)/2], b),
			wantFrames: [][]byte{b}, wantSkips: 1, wantSkipped: int64(len(a) / 2)},
		{name: "truncated header then a whole one", stream: cat(a[:10], b),
			wantFrames: [][]byte{b}, wantSkips: 1, wantSkipped: 10},
		{name: "truncated at end", stream: cat(a, b[:len(b)-1]),
			wantFrames: [][]byte{a}, wantSkips: 1, wantSkipped: int64(len(b) - 1)},
		{name: "EOI before any scan", stream: cat([]byte{0xFF, 0xD8, 0xFF, 0xD9}, a),
			wantFrames: [][]byte{a}, wantSkips: 1, wantSkipped: 4},
		{name: "broken segment", stream: cat([]byte{0xFF, 0xD8, 0x00, 0x01}, a),
			wantFrames: [][]byte{a}, wantSkips: 1, wantSkipped: 4},
		{name: "trailing 0xFF", stream: cat(a, []byte{0xFF}),
			wantFrames: [][]byte{a}, wantSkips: 1, wantSkipped: 1},
		{name: "only garbage", stream: []byte("hello, world"), wantSkips: 1, wantSkipped: 12},
		{name: "frame over the limit", stream: cat(a, big, b), maxFrame: len(a) + 100,
			wantFrames: [][]byte{a, b}, wantSkips: 1, wantTooBig: 1, wantSkipped: int64(len(big))},
		{name: "frame over the limit at end", stream: cat(a, big), maxFrame: len(a) + 100,
			wantFrames: [][]byte{a}, wantSkips: 1, wantTooBig: 1, wantSkipped: int64(len(big))},
	}
}

func TestReader(t *testing.T) {
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"half reads", iotest.HalfReader},
		{"EOF with data", iotest.DataErrReader},
	}
	for _, tc := range readerCases(t) {
		for _, rd := range readers {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				maxFrame := tc.maxFrame
				if maxFrame == 0 {
					maxFrame = 1 << 20
				}
				r := NewReader(rd.wrap(bytes.NewReader(tc.stream)), maxFrame)
				var frames [][]byte
				skips, tooBig := 0, 0
				for i := 0; ; i++ {
					if i > len(tc.stream)+10 {
						t.Fatal("Next does not reach EOF")
					}
					f, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					switch {
					case errors.Is(err, ErrFrameTooLarge):
						tooBig++
						skips++
					case errors.Is(err, ErrSkipped):
						skips++
					case err != nil:
						t.Fatalf("Next: %v", err)
					default:
						frames = append(frames, f)
					}
				}
				if len(frames) != len(tc.wantFrames) {
					t.Fatalf("got %d frames, want %d", len(frames), len(tc.wantFrames))
				}
				for i := range frames {
					if !bytes.Equal(frames[i], tc.wantFrames[i]) {
						t.Errorf("frame %d: got %d bytes, want %d", i, len(frames[i]), len(tc.wantFrames[i]))
					}
				}
				if skips != tc.wantSkips || tooBig != tc.wantTooBig || r.Skipped() != tc.wantSkipped {
					t.Errorf("skip errors = %d (too large %d), skipped %d bytes; want %d (%d), %d",
						skips, tooBig, r.Skipped(), tc.wantSkips, tc.wantTooBig, tc.wantSkipped)
				}
				if _, err := r.Next(); !errors.Is(err, io.EOF) {
					t.Errorf("Next after EOF = %v", err)
				}
			})
		}
	}
}

func TestReaderFramesAreCopies(t *testing.T) {
	a := encodeTestJPEG(t, 16, 16)
	stream := cat(a, a)
	r := NewReader(bytes.NewReader(stream), 1<<20)
	f1, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	f2, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	f1[0], stream[0] = 0, 0
	if f2[0] != 0xFF || cap(f1) != len(f1) {
		t.Error("frames share memory with each other or the reader")
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	a := encodeTestJPEG(t, 16, 16)
	r := NewReader(io.MultiReader(bytes.NewReader(a), iotest.ErrReader(boom)), 1<<20)
	if _, err := r.Next(); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	for range 2 {
		if _, err := r.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next = %v, want %v", err, boom)
		}
	}
}

func TestReaderEmptyReads(t *testing.T) {
	r := NewReader(emptyReader{}, 1<<20)
	if _, err := r.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("Next = %v, want io.ErrNoProgress", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func FuzzReader(f *testing.F) {
	for _, tc := range readerCases(f) {
		f.Add(tc.stream, uint16(tc.maxFrame))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxFrame uint16) {
		r := NewReader(iotest.HalfReader(bytes.NewReader(data)), int(maxFrame))
		var total int64
		for i := 0; ; i++ {
			if i > len(data)+2 {
				t.Fatalf("%d calls of Next without reaching EOF on %d bytes", i, len(data))
			}
			f, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrSkipped) {
					t.Fatalf("Next: %v", err)
				}
				continue
			}
			if len(f) < 4 || f[0] != 0xFF || f[1] != 0xD8 || f[len(f)-2] != 0xFF || f[len(f)-1] != 0xD9 {
				t.Fatalf("frame is not SOI..EOI: % x", f)
			}
			if len(f) > max(int(maxFrame), 4) {
				t.Fatalf("frame of %d bytes over the limit %d", len(f), maxFrame)
			}
			if trimmed, err := Trim(f); err != nil || len(trimmed) != len(f) {
				t.Fatalf("Trim disagrees with Reader: %d of %d bytes, %v", len(trimmed), len(f), err)
			}
			total += int64(len(f))
		}
		if total+r.Skipped() != int64(len(data)) {
			t.Fatalf("frames %d + skipped %d bytes != %d bytes read", total, r.Skipped(), len(data))
		}
	})
}

func BenchmarkReader(b *testing.B) {
	frame := encodeTestJPEG(b, 1280, 720)
	const perStream = 30
	stream := bytes.Repeat(frame, perStream)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	br := bytes.NewReader(stream)
	r := NewReader(br, 4<<20)
	for b.Loop() {
		if _, err := r.Next(); err == io.EOF {
			br.Reset(stream)
			r = NewReader(br, 4<<20)
			if _, err := r.Next(); err != nil {
				b.Fatal(err)
			}
		} else if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(frame)), "frame_bytes")
}
