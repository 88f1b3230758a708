package scene

import (
	"bytes"
	"strings"
	"testing"
)

// TestGraph pins the pieces of the filter graph the timings rely on.
func TestGraph(t *testing.T) {
	g := VM.Graph()
	for _, want := range []string{
		"smptehdbars=s=640x360:r=30[bg]",
		"overlay=x='if(between(t,4,6),-80+(t-4)*360,-1000)':y=216", // enters at 4 s, gone at 6 s
		"overlay=x='if(between(t,15,17),640-(t-15)*360,-1000)':y=151",
		"eq=brightness='if(gte(t,12),0,if(gte(t,9),0.25,0))':eval=frame",
		"noise=alls=10:allf=t,format=yuvj422p",
	} {
		if !strings.Contains(g, want) {
			t.Errorf("graph lacks %q:\n%s", want, g)
		}
	}
	if g := Bench.Graph(); !strings.Contains(g, "+0.2*clip((t-28)/8,0,1)") {
		t.Errorf("bench graph lacks the ramp:\n%s", g)
	}
	if VM.Frames() != 600 || Bench.Frames() != 1440 {
		t.Errorf("frames %d, %d", VM.Frames(), Bench.Frames())
	}
}

func TestMaskPGM(t *testing.T) {
	p := MaskPGM(10, 10)
	hdr := []byte("P5\n10 10\n255\n")
	if !bytes.HasPrefix(p, hdr) || len(p) != len(hdr)+100 {
		t.Fatalf("header or size: %q", p[:min(len(p), 20)])
	}
	pix := p[len(hdr):]
	// MaskW 0.2, MaskH 0.3: x < 2 and y < 3 are black.
	if pix[0] != 0 || pix[2*10+1] != 0 || pix[2] != 255 || pix[3*10] != 255 {
		t.Errorf("mask pixels %v", pix[:40])
	}
}

func TestSized(t *testing.T) {
	s, err := Bench.Sized("640x360")
	if err != nil || s.W != 640 || s.H != 360 || s.BoxSize() != 80 || len(s.Boxes) != 3 {
		t.Errorf("Sized: %+v, %v", s, err)
	}
	for _, bad := range []string{"640", "0x360", "641x360", "x"} {
		if _, err := Bench.Sized(bad); err == nil {
			t.Errorf("Sized(%q): no error", bad)
		}
	}
}
