package motion

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/internal/testutil"
)

// Real scenes: MJPEG rendered by ffmpeg's lavfi (as ../shared/motion.md
// checked them), decoded with image/jpeg, 8x8 blocks averaged into the
// 1/8-scale luma the detector gets from the camera, sampled at 5 fps by the
// frames' known times.

// realScene is an MJPEG scene: a filter graph rendered for dur seconds at
// the camera rate fps.
type realScene struct {
	graph string
	fps   int
	dur   float64
}

// lumaFrame is one sampled frame.
type lumaFrame struct {
	luma []byte
	at   time.Time // t0 + frame index / fps
	jpeg []byte
}

// render runs ffmpeg and returns every (camera fps / 5)-th frame as 1/8
// luma, with its picture size at 1/8 (rounded up: a partial block at the
// edge is the mean of the pixels it has, as a DC decoder's padded block
// roughly is).
func (sc realScene) render(t *testing.T) (frames []lumaFrame, w, h int) {
	t.Helper()
	ff := testutil.RequireTool(t, "ffmpeg")
	cmd := exec.Command(ff, "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", sc.graph,
		"-t", fmt.Sprint(sc.dur), "-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg", "-")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %q: %v: %s", sc.graph, err, errb.String())
	}
	rd := mjpeg.NewReader(&out, 16<<20)
	step := sc.fps / 5
	for i := 0; ; i++ {
		b, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("split: %v", err)
		}
		if i%step != 0 {
			continue
		}
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		var luma []byte
		luma, w, h = blockLuma(t, img)
		frames = append(frames, lumaFrame{luma: luma, at: t0.Add(secs(float64(i) / float64(sc.fps))), jpeg: b})
	}
	if want := int(sc.dur * 5); len(frames) != want {
		t.Fatalf("%d sampled frames, want %d", len(frames), want)
	}
	return frames, w, h
}

// blockLuma averages the Y plane in 8x8 blocks.
func blockLuma(t *testing.T, img image.Image) ([]byte, int, int) {
	var pix []byte
	var stride int
	switch m := img.(type) {
	case *image.YCbCr:
		pix, stride = m.Y, m.YStride
	case *image.Gray:
		pix, stride = m.Pix, m.Stride
	default:
		t.Fatalf("decoded a %T", img)
	}
	b := img.Bounds()
	iw, ih := b.Dx(), b.Dy()
	w, h := (iw+7)/8, (ih+7)/8
	out := make([]byte, w*h)
	for by := range h {
		for bx := range w {
			sum, n := 0, 0
			for y := by * 8; y < min(by*8+8, ih); y++ {
				for x := bx * 8; x < min(bx*8+8, iw); x++ {
					sum += int(pix[y*stride+x])
					n++
				}
			}
			out[by*w+bx] = byte((sum + n/2) / n)
		}
	}
	return out, w, h
}

// sceneRun is what the detector and tracker made of a scene.
type sceneRun struct {
	*harness
	snapshot []byte // the JPEG kept by NewPeak when the (first) event ended
}

func runScene(t *testing.T, sc realScene, cfg Config) sceneRun {
	t.Helper()
	frames, w, h := sc.render(t)
	hs := newHarness(t, cfg, w, h)
	run := sceneRun{harness: hs}
	var kept []byte
	for _, f := range frames {
		nEnded, nPeaks := len(hs.events), len(hs.peaks)
		hs.feed(f.luma, f.at)
		if len(hs.events) > nEnded && run.snapshot == nil {
			run.snapshot = kept
		}
		if len(hs.peaks) > nPeaks {
			kept = f.jpeg
		}
	}
	if ev, ok := hs.tr.Flush(); ok {
		hs.events = append(hs.events, ev)
		hs.endedAt = append(hs.endedAt, time.Time{})
		if run.snapshot == nil {
			run.snapshot = kept
		}
	}
	ls := []string{}
	for _, r := range hs.results {
		if r.Lightswitch {
			ls = append(ls, fmt.Sprintf("%.1f", rel(r.Time)))
		}
	}
	var evs []string
	for i, ev := range hs.events {
		evs = append(evs, fmt.Sprintf("[%.1f-%.1f s, reported %.1f-%.1f s, peak %.2f%% at %.1f s, zones %v]",
			rel(ev.Start), rel(ev.End), rel(hs.started[i]), rel(hs.endedAt[i]), ev.Peak, rel(ev.PeakTime), ev.Zones))
	}
	t.Logf("%dx%d analysed, %d frames: events %v; light switches at %v s; max score %.2f%%",
		w, h, len(hs.results), evs, ls, hs.maxScore(t0, t0.Add(time.Hour)))
	return run
}

// checkObjectEvent asserts one event for an object visible from entry to
// exit (seconds): started within 0.5 s of the entry, ended EventGap after
// its last motion, which lies in the last 0.5 s of the object's passage.
func checkObjectEvent(t *testing.T, run sceneRun, entry, exit float64, gap time.Duration, zones []string) {
	t.Helper()
	if len(run.events) != 1 {
		t.Fatalf("%d events, want 1", len(run.events))
	}
	ev := run.events[0]
	if s := rel(ev.Start); s < entry || s > entry+0.5 {
		t.Errorf("event starts at %.2f s, the object enters at %.1f s", s, entry)
	}
	if s := rel(run.started[0]); s > entry+0.5 {
		t.Errorf("event reported at %.2f s, more than 0.5 s after the entry at %.1f s", s, entry)
	}
	if e := rel(ev.End); e < exit-0.5 || e > exit {
		t.Errorf("event's last motion at %.2f s, the object leaves at %.1f s", e, exit)
	}
	if e, due := run.endedAt[0], ev.End.Add(gap); e.Before(due) || e.After(due.Add(200*time.Millisecond)) {
		t.Errorf("event ended at %.2f s, want %.2f s (EventGap after its last motion)", rel(e), rel(due))
	}
	if rel(run.endedAt[0]) > exit+gap.Seconds()+0.2 {
		t.Errorf("event ended at %.2f s, more than EventGap after the exit", rel(run.endedAt[0]))
	}
	if !slices.Equal(ev.Zones, zones) {
		t.Errorf("zones %q, want %q", ev.Zones, zones)
	}
	if p := rel(ev.PeakTime); p < entry || p > exit || run.snapshot == nil {
		t.Errorf("peak at %.2f s (snapshot %d bytes), want inside the passage", p, len(run.snapshot))
	}
}

// The box crosses the picture's left edge at 2 s and is gone after 4 s
// (x = -size + (t-2)*speed while 2 <= t <= 4, else off-picture), over the
// SMPTE bars, with temporal sensor noise; Motion's own test scene
// (../shared/motion.md), at two sizes.
func boxScene(w, h, fps int, dur float64) realScene {
	size, speed, y := w/8, float64(w)*0.55, h*7/18
	return realScene{
		graph: fmt.Sprintf("smptehdbars=s=%dx%d:r=%d[bg];color=c=white:s=%dx%d:r=%d[box];"+
			"[bg][box]overlay=x='if(between(t,2,4),-%d+(t-2)*%g,-10000)':y=%d:eval=frame,noise=alls=8:allf=t,format=yuvj422p",
			w, h, fps, size, size, fps, size, speed, y),
		fps: fps, dur: dur,
	}
}

var sceneZones = []Zone{
	{Name: "door", Polygon: rect(0.5, 0.3, 1, 0.7)}, // the box's path, right half
	{Name: "sky", Polygon: rect(0, 0, 1, 0.2)},      // nothing moves there
}

func TestSceneObject(t *testing.T) {
	run := runScene(t, boxScene(320, 180, 30, 11), Config{Zones: sceneZones})
	checkObjectEvent(t, run, 2, 4, DefaultEventGap, []string{"door"})
	// The snapshot has the box: a white 40x40 square on rows 70-110.
	img, err := jpeg.Decode(bytes.NewReader(run.snapshot))
	if err != nil {
		t.Fatal(err)
	}
	white := 0
	if m, ok := img.(*image.YCbCr); ok {
		for x := range 320 {
			if m.Y[m.YOffset(x, 90)] > 240 {
				white++
			}
		}
	}
	if white < 30 {
		t.Errorf("the snapshot's row 90 has %d white pixels, want the box's 40", white)
	}
}

// TestSceneObject720p: the same at 1280x720 (160x90 analysed), with an
// event gap of 2 s to keep the scene (and its decoding) short.
func TestSceneObject720p(t *testing.T) {
	t.Parallel()
	run := runScene(t, boxScene(1280, 720, 10, 7), Config{Zones: sceneZones, EventGap: 2 * time.Second})
	checkObjectEvent(t, run, 2, 4, 2*time.Second, []string{"door"})
}

func TestSceneNoEvent(t *testing.T) {
	for _, c := range []struct {
		name     string
		scene    realScene
		cfg      Config
		switches int // light switch frames expected
	}{
		// Flat grey with strong temporal and spatial noise (motion.md's noise
		// scene).
		{"noise", realScene{"color=c=0x606060:s=320x180:r=30,noise=alls=12:allf=t+u,format=yuvj422p", 30, 6}, Config{}, 0},
		// The SMPTE bars brighten by 0.3 (+77 levels, the top clipping) at 2 s
		// and back at 4 s: two light switches.
		{"light switch", realScene{"smptehdbars=s=320x180:r=30,eq=brightness='if(between(t,2,4),0.3,0)':eval=frame,noise=alls=8:allf=t,format=yuvj422p", 30, 8}, Config{}, 2},
		// Brightness ramps by 0.4 (+102 levels, the bright bars clipping on
		// the way) over 20 s from 1 s: about +1 level per analysed frame.
		{"slow ramp", realScene{"smptehdbars=s=320x180:r=30,eq=brightness='0.4*min(max(t-1,0),20)/20':eval=frame,noise=alls=8:allf=t,format=yuvj422p", 30, 22}, Config{}, 0},
		// A 60x40 patch flickers white (0.5 s on, 0.5 s off) from 2 s, masked.
		{"masked flicker", flickerScene, Config{Masks: []Polygon{flickerMask}}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			run := runScene(t, c.scene, c.cfg)
			if len(run.events) != 0 {
				t.Errorf("%d events, want none", len(run.events))
			}
			if n := run.count(func(r Result) bool { return r.Lightswitch }); n != c.switches {
				t.Errorf("%d light switch frames, want %d", n, c.switches)
			}
			if m := run.count(func(r Result) bool { return r.Motion }); m != 0 {
				t.Errorf("%d frames with motion, want none", m)
			}
		})
	}
}

var (
	flickerScene = realScene{"color=c=0x606060:s=320x180:r=30,drawbox=x=20:y=20:w=60:h=40:color=white:t=fill:enable='gte(t,2)*lt(mod(t,1),0.5)',noise=alls=8:allf=t,format=yuvj422p", 30, 8}
	flickerMask  = rect(0.03, 0.05, 0.3, 0.4) // x 10-96, y 9-72 px: the patch and the blocks its edges touch
)

// TestSceneFlickerUnmasked: the same flicker without the mask is an event
// from its first flash at 2 s to its last at 7.4 s.
func TestSceneFlickerUnmasked(t *testing.T) {
	run := runScene(t, flickerScene, Config{})
	if len(run.events) != 1 {
		t.Fatalf("%d events, want 1", len(run.events))
	}
	ev := run.events[0]
	if s := rel(ev.Start); s < 2 || s > 2.5 {
		t.Errorf("event starts at %.2f s, the flicker at 2 s", s)
	}
	if e := rel(ev.End); e < 7 || e > 7.5 {
		t.Errorf("event's last motion at %.2f s, the last flash at 7-7.5 s", e)
	}
	if !run.endedAt[0].IsZero() { // the scene ends less than EventGap after the last flash
		t.Errorf("event ended at %.2f s, want by Flush", rel(run.endedAt[0]))
	}
}
