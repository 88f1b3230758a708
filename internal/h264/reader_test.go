package h264

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
)

// readAll splits data with a Reader reading through wrap.
func readAll(t testing.TB, r io.Reader) (units []Unit, skipped int) {
	d := NewReader(r, 1<<20)
	for {
		u, err := d.Next()
		switch {
		case errors.Is(err, ErrSkipped):
			skipped++
			continue
		case err == io.EOF:
			return units, skipped
		case err != nil:
			t.Fatalf("Next: %v", err)
		}
		units = append(units, u)
	}
}

func TestReaderSplitsFFmpegStreams(t *testing.T) {
	cases := []struct {
		file          string
		units, keyAt  int // keyframe every keyAt units
		w, h          int
		profile       string
		slicesPerUnit int
	}{
		{"testsrc2_320x240_g30.h264", 45, 30, 320, 240, "Constrained Baseline", 1},
		{"aud_slices_176x144_g10.h264", 20, 10, 176, 144, "Constrained Baseline", 2},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + c.file)
			if err != nil {
				t.Fatal(err)
			}
			for name, r := range map[string]io.Reader{
				"whole":   bytes.NewReader(data),
				"onebyte": iotest.OneByteReader(bytes.NewReader(data)),
				"half":    iotest.HalfReader(bytes.NewReader(data)),
			} {
				units, skipped := readAll(t, r)
				if len(units) != c.units || skipped != 0 {
					t.Fatalf("%s: %d units, %d skipped; want %d, 0", name, len(units), skipped, c.units)
				}
				for i, u := range units {
					if u.Key != (i%c.keyAt == 0) {
						t.Fatalf("%s: unit %d key=%v", name, i, u.Key)
					}
					in := Inspect(u.Data)
					if in.Key && (in.SPS == nil || in.PPS == nil) {
						t.Fatalf("%s: keyframe %d without SPS/PPS", name, i)
					}
					if in.Pictures != 1 {
						t.Fatalf("%s: unit %d holds %d pictures", name, i, in.Pictures)
					}
				}
			}
			d := NewReader(bytes.NewReader(data), 1<<20)
			if _, err := d.Next(); err != nil {
				t.Fatal(err)
			}
			sps, ok := d.SPS()
			if !ok || sps.Width != c.w || sps.Height != c.h || sps.ProfileName() != c.profile {
				t.Fatalf("SPS %+v (%s) ok=%v; want %dx%d %s", sps, sps.ProfileName(), ok, c.w, c.h, c.profile)
			}
		})
	}
}

// Some encoders send SPS and PPS with the first keyframe only (ffmpeg's
// libx264 repeats them: they are cut out of the second keyframe here); the
// Reader puts the last ones in front of a keyframe that lacks them.
func TestReaderPrependsParamsToKeyframes(t *testing.T) {
	data, err := os.ReadFile("testdata/testsrc2_320x240_g30.h264")
	if err != nil {
		t.Fatal(err)
	}
	second := bytes.Index(data[100:], []byte{0, 0, 0, 1, 0x67}) + 100
	idr := bytes.Index(data[second:], []byte{0, 0, 1, 0x65}) + second
	if second < 100 || idr < second {
		t.Fatal("test stream: second keyframe not found")
	}
	cut := append(append([]byte(nil), data[:second]...), data[idr:]...)
	if in := Inspect(cut[second:]); in.SPS != nil {
		t.Fatal("SPS not cut")
	}
	units, _ := readAll(t, bytes.NewReader(cut))
	in := Inspect(units[30].Data)
	if !in.Key || in.SPS == nil || in.PPS == nil {
		t.Fatalf("second keyframe: %+v", in)
	}
	first := Inspect(units[0].Data)
	if !bytes.Equal(first.SPS, in.SPS) || !bytes.Equal(first.PPS, in.PPS) {
		t.Fatal("second keyframe's SPS/PPS differ from the first's")
	}
	// With an access unit delimiter, it stays first.
	var p Params
	p.Update(first)
	aud := []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x65, 0x88, 0x84}
	got := p.AppendUnit(nil, aud, Inspect(aud))
	if Type(got[4:]) != NALAUD || !bytes.Contains(got, first.SPS) || !bytes.HasSuffix(got, aud[7:]) {
		t.Fatalf("AUD unit with parameters: % x", got)
	}
}

func TestReaderSkipsJunkAndBoundsUnits(t *testing.T) {
	data, err := os.ReadFile("testdata/testsrc2_320x240_g30.h264")
	if err != nil {
		t.Fatal(err)
	}
	junk := append([]byte("garbage before the stream"), data...)
	units, skipped := readAll(t, bytes.NewReader(junk))
	if len(units) != 45 || skipped != 1 {
		t.Fatalf("%d units, %d skipped", len(units), skipped)
	}
	d := NewReader(bytes.NewReader(data), 1000) // smaller than a keyframe
	var n, tooLarge int
	for {
		_, err := d.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrUnitTooLarge) {
			tooLarge++
			continue
		}
		if err != nil && !errors.Is(err, ErrSkipped) {
			t.Fatal(err)
		}
		if err == nil {
			n++
		}
	}
	if tooLarge == 0 {
		t.Fatalf("no unit reported too large (%d units)", n)
	}
}

func TestNALsAllocatesNothing(t *testing.T) {
	data, err := os.ReadFile("testdata/testsrc2_320x240_g30.h264")
	if err != nil {
		t.Fatal(err)
	}
	units, _ := readAll(t, bytes.NewReader(data))
	var p Params
	allocs := testing.AllocsPerRun(100, func() {
		for _, u := range units {
			in := Inspect(u.Data)
			p.Update(in)
			_ = p.Missing(in)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per pass", allocs)
	}
}

func TestParseSPS(t *testing.T) {
	// x264 720p High and 1080p (cropped from 1088) SPSs.
	for _, c := range []struct {
		sps     []byte
		w, h    int
		profile string
	}{
		{[]byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6a, 0x02, 0x02, 0x02, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07, 0x8c, 0x18, 0xcb}, 1280, 720, "High"},
		{[]byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x5a, 0x80, 0x80, 0x80, 0xa0, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x07, 0x81, 0xe3, 0x06, 0x32, 0xc0}, 1920, 1080, "High"},
	} {
		s, err := ParseSPS(c.sps)
		if err != nil || s.Width != c.w || s.Height != c.h || s.ProfileName() != c.profile {
			t.Errorf("ParseSPS: %+v %v; want %dx%d %s", s, err, c.w, c.h, c.profile)
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, name := range []string{"testsrc2_320x240_g30.h264", "aud_slices_176x144_g10.h264"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 4096)], uint8(7))
	}
	f.Add([]byte{0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x80, 0, 0, 0, 1}, uint8(1))
	f.Add([]byte{0, 0, 1, 0x67, 0x64, 0, 0x1f, 0xff, 0, 0, 1}, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		whole, _ := readAll(t, bytes.NewReader(data))
		r := io.Reader(bytes.NewReader(data))
		if chunk%2 == 1 {
			r = iotest.OneByteReader(r)
		}
		parts, _ := readAll(t, r)
		if len(whole) != len(parts) {
			t.Fatalf("%d units whole, %d read in pieces", len(whole), len(parts))
		}
		for i := range whole {
			if !bytes.Equal(whole[i].Data, parts[i].Data) || whole[i].Key != parts[i].Key {
				t.Fatalf("unit %d differs", i)
			}
			if len(whole[i].Data) > len(data)+1<<10 {
				t.Fatalf("unit %d larger than the input", i)
			}
		}
		for _, u := range whole {
			_, _ = ParseSPS(Inspect(u.Data).SPS)
		}
	})
}
