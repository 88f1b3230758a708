// Package scene describes the scripted MJPEG scenes of the motion tests
// and benchmark and renders them with ffmpeg's lavfi: colour bars with
// sensor noise, a white square blinking twice a second in the top-left
// corner (which the tests mask), boxes crossing the picture (the scripted
// events), lamps switched on and off and a slow illumination ramp. Only the
// boxes are motion.
//
// The VM test renders its scene inside the VM; make bench-motion renders
// the larger benchmark scene on the host (test/vm/motionscene), where
// ffmpeg is some 20 times faster than under the VM's emulated CPU.
package scene

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Scene is a scripted scene.
type Scene struct {
	W, H, FPS int
	Dur       float64 // seconds
	Noise     int     // ffmpeg noise strength (alls)
	Boxes     []Box   // the scripted events
	Lights    []Light
	Ramp      *Ramp
}

// Box is a box crossing the picture: its first pixels show just after
// Entry, its last just before Exit.
type Box struct {
	Entry, Exit float64 // seconds
	Y           float64 // top, fraction of the height
	Leftward    bool
}

// Light sets the brightness (ffmpeg eq, -1..1) from At on.
type Light struct {
	At, Brightness float64
}

// Ramp changes the brightness by Delta, linearly from From to To.
type Ramp struct {
	From, To, Delta float64
}

// The blinking square, as fractions of the picture (its side of the
// width), and a mask that covers it with a margin: the top-left
// MaskW × MaskH.
const (
	BlinkX, BlinkY, BlinkSize = 0.03, 0.05, 0.0625
	MaskW, MaskH              = 0.2, 0.3
)

// VM is the VM stage's scene (TestMotionScene): 640x360 at 30 fps for
// 20 s: a box crossing left to right at 4–6 s, a lamp switched on at 9 s
// and off at 12 s, a box crossing right to left at 15–17 s.
var VM = Scene{
	W: 640, H: 360, FPS: 30, Dur: 20, Noise: 10,
	Boxes: []Box{
		{Entry: 4, Exit: 6, Y: 0.6},
		{Entry: 15, Exit: 17, Y: 0.42, Leftward: true},
	},
	Lights: []Light{{At: 9, Brightness: 0.25}, {At: 12, Brightness: 0}},
}

// Bench is make bench-motion's scene: 1280x720 at 30 fps for 48 s: three
// box crossings (6–8 s, 18–20 s right to left, 40–42 s), a lamp switched on
// at 12 s and off at 24 s, and a slow illumination ramp (+0.2 over
// 28–36 s).
var Bench = Scene{
	W: 1280, H: 720, FPS: 30, Dur: 48, Noise: 8,
	Boxes: []Box{
		{Entry: 6, Exit: 8, Y: 0.6},
		{Entry: 18, Exit: 20, Y: 0.42, Leftward: true},
		{Entry: 40, Exit: 42, Y: 0.6},
	},
	Lights: []Light{{At: 12, Brightness: 0.25}, {At: 24, Brightness: 0}},
	Ramp:   &Ramp{From: 28, To: 36, Delta: 0.2},
}

// Sized returns s at another size ("WxH"); what happens in it scales.
func (s Scene) Sized(size string) (Scene, error) {
	ws, hs, ok := strings.Cut(size, "x")
	w, errW := strconv.Atoi(ws)
	h, errH := strconv.Atoi(hs)
	if !ok || errW != nil || errH != nil || w < 64 || h < 64 || w%16 != 0 || h%8 != 0 {
		return s, fmt.Errorf("scene size %q: want WxH, multiples of 16 and 8, at least 64x64", size)
	}
	s.W, s.H = w, h
	return s, nil
}

// BoxSize is the box's side: 2/9 of the height (80 px at 360, 160 at 720).
func (s Scene) BoxSize() int { return s.H * 2 / 9 }

// Frames is the number of frames of the scene.
func (s Scene) Frames() int { return int(s.Dur * float64(s.FPS)) }

// Graph is the lavfi filter graph of the scene.
func (s Scene) Graph() string {
	b := s.BoxSize()
	bs := int(BlinkSize * float64(s.W))
	var g strings.Builder
	fmt.Fprintf(&g, "smptehdbars=s=%dx%d:r=%d[bg];", s.W, s.H, s.FPS)
	fmt.Fprintf(&g, "color=c=white:s=%dx%d:r=%d[blink];", bs, bs, s.FPS)
	for i := range s.Boxes {
		fmt.Fprintf(&g, "color=c=white:s=%dx%d:r=%d[box%d];", b, b, s.FPS, i)
	}
	fmt.Fprintf(&g, "[bg][blink]overlay=x='if(lt(mod(t,0.5),0.25),%d,-1000)':y=%d:eval=frame[v0]",
		int(BlinkX*float64(s.W)), int(BlinkY*float64(s.H)))
	for i, p := range s.Boxes {
		speed := float64(s.W+b) / (p.Exit - p.Entry)
		x := fmt.Sprintf("-%d+(t-%g)*%g", b, p.Entry, speed)
		if p.Leftward {
			x = fmt.Sprintf("%d-(t-%g)*%g", s.W, p.Entry, speed)
		}
		fmt.Fprintf(&g, ";[v%d][box%d]overlay=x='if(between(t,%g,%g),%s,-1000)':y=%d:eval=frame[v%d]",
			i, i, p.Entry, p.Exit, x, int(p.Y*float64(s.H)), i+1)
	}
	bright := "0"
	for _, l := range s.Lights {
		bright = fmt.Sprintf("if(gte(t,%g),%g,%s)", l.At, l.Brightness, bright)
	}
	if r := s.Ramp; r != nil {
		bright = fmt.Sprintf("%s+%g*clip((t-%g)/%g,0,1)", bright, r.Delta, r.From, r.To-r.From)
	}
	fmt.Fprintf(&g, ";[v%d]eq=brightness='%s':eval=frame,noise=alls=%d:allf=t,format=yuvj422p", len(s.Boxes), bright, s.Noise)
	return g.String()
}

// Command is the ffmpeg command that renders the scene into out (a file
// of concatenated JPEGs).
func (s Scene) Command(ffmpeg, out string) *exec.Cmd {
	return exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", s.Graph(),
		"-t", strconv.FormatFloat(s.Dur, 'f', -1, 64), "-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg", out)
}

// MaskYAML is camrec's mask over the blinking square.
func MaskYAML() string {
	return fmt.Sprintf("[[0, 0], [%g, 0], [%g, %g], [0, %g]]", MaskW, MaskW, MaskH, MaskH)
}

// MaskPGM is the same mask as Motion's mask_file: a binary PGM, white
// where Motion looks, black over the blinking square.
func MaskPGM(w, h int) []byte {
	pix := make([]byte, w*h)
	mw, mh := int(MaskW*float64(w)), int(MaskH*float64(h))
	for y := range h {
		for x := range w {
			if x >= mw || y >= mh {
				pix[y*w+x] = 255
			}
		}
	}
	return append([]byte(fmt.Sprintf("P5\n%d %d\n255\n", w, h)), pix...)
}
