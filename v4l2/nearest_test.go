package v4l2

import (
	"math"
	"testing"

	"github.com/blackjack/webcam"
)

// c920 is the MJPEG size list of a Logitech C920, the usual suspect.
var c920 = []SizeRange{
	DiscreteSize(1920, 1080), DiscreteSize(1600, 896), DiscreteSize(1280, 720),
	DiscreteSize(1024, 576), DiscreteSize(960, 720), DiscreteSize(864, 480),
	DiscreteSize(800, 600), DiscreteSize(800, 448), DiscreteSize(640, 480),
	DiscreteSize(640, 360), DiscreteSize(320, 240), DiscreteSize(160, 120),
}

// piCam is the stepwise MJPEG range of the Raspberry Pi's bcm2835-v4l2.
var piCam = []SizeRange{{MinWidth: 32, MaxWidth: 2592, StepWidth: 2, MinHeight: 32, MaxHeight: 1944, StepHeight: 2}}

func TestNearestSize(t *testing.T) {
	tests := []struct {
		name         string
		sizes        []SizeRange
		w, h         int
		wantW, wantH int
		wantOK       bool
	}{
		{"exact", c920, 1280, 720, 1280, 720, true},
		{"zero asks for largest", c920, 0, 0, 1920, 1080, true},
		{"between sizes", c920, 1280, 800, 1280, 720, true},
		{"larger than any", c920, 4096, 2160, 1920, 1080, true},
		{"smaller than any", c920, 100, 100, 160, 120, true},
		{"tie prefers larger", []SizeRange{DiscreteSize(600, 400), DiscreteSize(800, 600)}, 700, 500, 800, 600, true},
		{"stepwise snaps to step", piCam, 1281, 721, 1282, 722, true},
		{"stepwise clamps", piCam, 4000, 3000, 2592, 1944, true},
		{"stepwise largest", piCam, 0, 0, 2592, 1944, true},
		{"stepwise below min", piCam, 8, 8, 32, 32, true},
		{"stepwise step overshoot", []SizeRange{{MinWidth: 100, MaxWidth: 250, StepWidth: 100, MinHeight: 100, MaxHeight: 100}}, 250, 100, 200, 100, true},
		{"continuous takes request", []SizeRange{{}}, 1234, 567, 1234, 567, true},
		{"continuous cannot pick largest", []SizeRange{{}}, 0, 0, 0, 0, false},
		{"continuous beside discrete, largest", []SizeRange{{}, DiscreteSize(640, 480)}, 0, 0, 640, 480, true},
		{"nothing offered", nil, 640, 480, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h, ok := NearestSize(tt.sizes, tt.w, tt.h)
			if w != tt.wantW || h != tt.wantH || ok != tt.wantOK {
				t.Errorf("NearestSize(%dx%d) = %dx%d %v, want %dx%d %v", tt.w, tt.h, w, h, ok, tt.wantW, tt.wantH, tt.wantOK)
			}
		})
	}
}

func TestNearestRate(t *testing.T) {
	c920Rates := []RateRange{DiscreteRate(30), DiscreteRate(24), DiscreteRate(20), DiscreteRate(15),
		DiscreteRate(10), DiscreteRate(7.5), DiscreteRate(5)}
	// 1 to 30 fps in intervals of 1/30 s steps of 1/30 s: 30, 15, 10, 7.5, 6, ...
	stepwise := []RateRange{{Min: 1, Max: 30, StepInterval: 1.0 / 30}}
	tests := []struct {
		name   string
		rates  []RateRange
		fps    float64
		want   float64
		wantOK bool
	}{
		{"exact", c920Rates, 15, 15, true},
		{"zero asks for highest", c920Rates, 0, 30, true},
		{"above all", c920Rates, 60, 30, true},
		{"between", c920Rates, 12, 10, true},
		{"tie prefers higher", c920Rates, 12.5, 15, true},
		{"ntsc close to 30", []RateRange{DiscreteRate(30000.0 / 1001), DiscreteRate(15)}, 30, 30000.0 / 1001, true},
		{"stepwise any interval", []RateRange{{Min: 1, Max: 60}}, 25, 25, true},
		{"stepwise snaps interval", stepwise, 12, 10, true},
		{"stepwise clamps high", stepwise, 90, 30, true},
		{"stepwise clamps low", stepwise, 0.5, 1, true},
		{"stepwise highest", stepwise, 0, 30, true},
		{"nothing offered", nil, 30, 0, false},
		{"only zero rates", []RateRange{DiscreteRate(0)}, 30, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NearestRate(tt.rates, tt.fps)
			if math.Abs(got-tt.want) > 1e-6 || ok != tt.wantOK {
				t.Errorf("NearestRate(%v) = %v %v, want %v %v", tt.fps, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestSizesOf(t *testing.T) {
	in := []webcam.FrameSize{
		{MinWidth: 640, MaxWidth: 640, MinHeight: 480, MaxHeight: 480},
		{MinWidth: 1280, MaxWidth: 1280, MinHeight: 720, MaxHeight: 720},
		{MinWidth: 640, MaxWidth: 640, MinHeight: 480, MaxHeight: 480}, // duplicate
		{MinWidth: 32, MaxWidth: 2592, StepWidth: 2, MinHeight: 32, MaxHeight: 1944, StepHeight: 2},
		{}, // continuous, as the library reports it
	}
	got := sizesOf(in)
	want := []string{"[32-2592 step 2]x[32-1944 step 2]", "1280x720", "640x480", "any size"}
	if len(got) != len(want) {
		t.Fatalf("sizesOf = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("sizesOf[%d] = %s, want %s", i, got[i], want[i])
		}
	}
}

func TestRatesOf(t *testing.T) {
	in := []webcam.FrameRate{
		{MinNumerator: 1, MaxNumerator: 1, MinDenominator: 15, MaxDenominator: 15},
		{MinNumerator: 333333, MaxNumerator: 333333, MinDenominator: 10000000, MaxDenominator: 10000000}, // uvcvideo's 30 fps
		{MinNumerator: 0, MaxNumerator: 0, MinDenominator: 30, MaxDenominator: 30},                       // broken driver
		{MinNumerator: 1, MaxNumerator: 1, StepNumerator: 1, MinDenominator: 60, MaxDenominator: 1, StepDenominator: 60},
		{MinNumerator: 1, MaxNumerator: 1, MinDenominator: 15, MaxDenominator: 15}, // duplicate
	}
	got := ratesOf(in)
	want := []string{"1-60", "30", "15"}
	if len(got) != len(want) {
		t.Fatalf("ratesOf = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("ratesOf[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	if got[0].StepInterval != 1.0/60 {
		t.Errorf("step interval = %v, want 1/60", got[0].StepInterval)
	}
}
