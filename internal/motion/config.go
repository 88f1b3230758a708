package motion

import (
	"errors"
	"fmt"
	"time"
)

// Config is one camera's motion settings, the `motion:` section of its
// YAML. A zero numeric field means its default (Default* below); call
// WithDefaults before use, Validate to check what the user wrote.
type Config struct {
	// Enabled runs detection on the camera. Default false: detection costs
	// CPU, and only the user knows whether the camera needs it.
	Enabled bool `yaml:"enabled"`
	// FPS is the detection rate, frames analysed per second (the camera's
	// other frames are skipped).
	FPS float64 `yaml:"fps"`
	// Threshold is the changed area, in percent of the unmasked picture,
	// from which a frame has motion.
	Threshold float64 `yaml:"threshold"`
	// MinArea is the smallest patch of changed pixels (8-connected) that
	// counts, in percent of the whole picture; smaller patches are noise.
	MinArea float64 `yaml:"min_area"`
	// MinDiff is the smallest luma difference (0-255) from the background
	// that marks a pixel changed, however quiet its noise.
	MinDiff float64 `yaml:"min_diff"`
	// NoiseFactor: a pixel is changed when its difference exceeds
	// NoiseFactor times its own noise (mean absolute deviation), if that
	// is more than MinDiff.
	NoiseFactor float64 `yaml:"noise_factor"`
	// Lightswitch is the share of the unmasked picture, in percent, that
	// changes at once in a frame judged a light switch (lamp, IR cut-over,
	// the camera moved): the background is re-learnt from it and the frame
	// has no motion. A uniform brightness step of MinDiff or more in one
	// frame counts as a light switch too. 100 turns the share rule off.
	Lightswitch float64 `yaml:"lightswitch"`
	// BackgroundTime is the time constant of the background's running
	// average: still pixels follow a change by 63% in this time.
	BackgroundTime time.Duration `yaml:"background_time"`
	// AbsorbAfter: a pixel that stays changed this long is blended into
	// the background (at BackgroundTime's rate); until then moving things
	// are kept out of it.
	AbsorbAfter time.Duration `yaml:"absorb_after"`
	// LearnTime is how long the background is learnt from the first frames
	// (and after a reset or a gap in the frames) before anything is
	// reported.
	LearnTime time.Duration `yaml:"learn_time"`
	// MinFrames is how many consecutive frames with motion start an event.
	MinFrames int `yaml:"min_frames"`
	// EventGap ends an event after that long without motion; motion within
	// it continues the event.
	EventGap time.Duration `yaml:"event_gap"`
	// PostRoll is how long an event recording goes on after the last
	// motion (used by the recorder, not by this package).
	PostRoll time.Duration `yaml:"post_roll"`
	// Masks are areas never looked at.
	Masks []Polygon `yaml:"masks"`
	// Zones are named areas that events report.
	Zones []Zone `yaml:"zones"`
	// Schedule arms detection in weekly windows of local time, e.g.
	// "mon-fri 08:00-17:30", "sat,sun 00:00-24:00", "22:00-06:00". Empty:
	// always armed. See ParseSchedule.
	Schedule []string `yaml:"schedule"`
}

// Defaults, each with the reason for its value. The peers quoted are Motion
// 4.5.1, Frigate, Viseron and ZoneMinder (../shared/motion.md).
const (
	// DefaultFPS: 5 analysed frames per second are Frigate's detect rate;
	// an object crossing the picture in a second is seen in 5 frames, and
	// the first two (MinFrames) arrive within 0.4 s.
	DefaultFPS = 5.0
	// DefaultThreshold 0.5%: Motion's threshold of 1500 changed pixels on
	// its 640x480 default picture (0.49%). At 1280x720 (160x90 analysed)
	// that is 72 blocks of 8x8 pixels, a person of 48x96 pixels, i.e. about
	// 10 m away with a typical webcam lens.
	DefaultThreshold = 0.5
	// DefaultMinArea 0.025% of the picture: 4 analysed pixels at 160x90 (a
	// 16x16-pixel patch of a 720p picture), 9 at 240x135. Frigate ignores
	// contours under 10 pixels of its 100-pixel-high picture (about 0.05%);
	// ours is half that because our pixels already average 64.
	DefaultMinArea = 0.025
	// DefaultMinDiff 15 levels: Viseron's pixel threshold (Frigate uses 30
	// after stretching the contrast, ZoneMinder suggests 40 on single
	// pixels; averaging 8x8 blocks removes most sensor noise, so a lower
	// floor is safe).
	DefaultMinDiff = 15.0
	// DefaultNoiseFactor 4: 4 mean absolute deviations are 3.2 standard
	// deviations of Gaussian noise, exceeded by 0.14% of still pixels, and
	// despeckling (MinArea) removes those.
	DefaultNoiseFactor = 4.0
	// DefaultLightswitch 50%: Frigate recalibrates at 80% of the picture,
	// Motion's lightswitch_percent is off by default. Uniform brightness
	// changes are already compensated here, so what changes half the
	// picture at once is a lamp lighting part of the room, the camera's IR
	// cut-over or the camera being moved, not an object.
	DefaultLightswitch = 50.0
	// DefaultBackgroundTime 10 s: Viseron's running average (alpha 0.1 at
	// 1 fps), between ZoneMinder's 3 s and Frigate's 20 s at 5 fps. A local
	// brightening slower than MinDiff per BackgroundTime (a sun patch)
	// does not trigger.
	DefaultBackgroundTime = 10 * time.Second
	// DefaultAbsorbAfter 10 s: Motion keeps moving pixels out of its
	// reference for at most 10 s. A car that parks stops counting after
	// AbsorbAfter + BackgroundTime*ln(contrast/threshold), 15 to 29 s for a
	// contrast of 100 levels (the pixels' threshold rises from MinDiff
	// towards NoiseFactor*MinDiff meanwhile; 20.5 s measured).
	DefaultAbsorbAfter = 10 * time.Second
	// DefaultLearnTime 1 s: 5 frames at 5 fps give the background and a
	// first noise estimate; the noise estimate keeps adapting afterwards.
	DefaultLearnTime = time.Second
	// DefaultMinFrames 2: one frame alone (a JPEG glitch, an insect past
	// the lens, an exposure blip) makes no event; at 5 fps the second
	// frame comes 0.2 s after the first, and the event starts at the first.
	DefaultMinFrames = 2
	// DefaultEventGap 5 s: someone passing behind a tree or a car shows up
	// again within seconds and stays one event; Motion's 60 s would keep a
	// Home Assistant motion sensor on for a minute after everything
	// stopped. Recordings are merged by PostRoll, independently.
	DefaultEventGap = 5 * time.Second
	// DefaultPostRoll 10 s: the default; it outlasts EventGap so
	// the recording of two events 5-10 s apart is one file.
	DefaultPostRoll = 10 * time.Second
)

// noiseTime is the time constant of the per-pixel noise estimate: slower
// than the background (3x), so one passing object barely raises it, fast
// enough to follow the sensor's gain at dusk within a minute.
const noiseTime = 30 * time.Second

// DefaultConfig returns the defaults (not enabled, no masks, zones or
// schedule).
func DefaultConfig() Config {
	var c Config
	return c.WithDefaults()
}

// WithDefaults returns c with every zero numeric setting at its default.
func (c Config) WithDefaults() Config {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.FPS, DefaultFPS)
	def(&c.Threshold, DefaultThreshold)
	def(&c.MinArea, DefaultMinArea)
	def(&c.MinDiff, DefaultMinDiff)
	def(&c.NoiseFactor, DefaultNoiseFactor)
	def(&c.Lightswitch, DefaultLightswitch)
	defD(&c.BackgroundTime, DefaultBackgroundTime)
	defD(&c.AbsorbAfter, DefaultAbsorbAfter)
	defD(&c.LearnTime, DefaultLearnTime)
	defD(&c.EventGap, DefaultEventGap)
	defD(&c.PostRoll, DefaultPostRoll)
	if c.MinFrames == 0 {
		c.MinFrames = DefaultMinFrames
	}
	return c
}

// validationGrid is the analysed size masks and zones are checked on by
// Validate (1280x720 at 1/8 scale), before the camera's real size is known;
// NewDetector checks again at the real size.
const validationW, validationH = 160, 90

// Validate checks the settings (zero numbers mean their defaults) and names
// the first bad one with the value the user wrote, e.g.
// `threshold 150: want a percentage above 0 and at most 100`. The daemon
// prefixes the camera and section.
func (c Config) Validate() error {
	pct := func(key string, v float64) error {
		if !(v >= 0 && v <= 100) { // NaN too
			return fmt.Errorf("%s %g: want a percentage above 0 and at most 100", key, v)
		}
		return nil
	}
	dur := func(key string, v, lo, hi time.Duration) error {
		if v != 0 && (v < lo || v > hi) {
			return fmt.Errorf("%s %v: want %v to %v", key, v, lo, hi)
		}
		return nil
	}
	for _, err := range []error{
		func() error {
			if !(c.FPS >= 0 && c.FPS <= 30) || (c.FPS != 0 && c.FPS < 0.2) {
				return fmt.Errorf("fps %g: want 0.2 to 30 frames per second", c.FPS)
			}
			return nil
		}(),
		pct("threshold", c.Threshold),
		pct("min_area", c.MinArea),
		func() error {
			if !(c.MinDiff >= 0 && c.MinDiff <= 255) {
				return fmt.Errorf("min_diff %g: want 1 to 255 luma levels", c.MinDiff)
			}
			return nil
		}(),
		func() error {
			if !(c.NoiseFactor >= 0 && c.NoiseFactor <= 20) {
				return fmt.Errorf("noise_factor %g: want above 0 and at most 20", c.NoiseFactor)
			}
			return nil
		}(),
		pct("lightswitch", c.Lightswitch),
		dur("background_time", c.BackgroundTime, time.Second, time.Hour),
		dur("absorb_after", c.AbsorbAfter, time.Second, 24*time.Hour),
		dur("learn_time", c.LearnTime, 100*time.Millisecond, time.Minute),
		func() error {
			if c.MinFrames < 0 || c.MinFrames > 100 {
				return fmt.Errorf("min_frames %d: want 1 to 100", c.MinFrames)
			}
			return nil
		}(),
		dur("event_gap", c.EventGap, 100*time.Millisecond, time.Hour),
		dur("post_roll", c.PostRoll, time.Second, time.Hour),
	} {
		if err != nil {
			return err
		}
	}
	if c.Threshold != 0 && c.Lightswitch != 0 && c.Lightswitch <= c.Threshold {
		return fmt.Errorf("lightswitch %g: must be above threshold %g (or every motion would be a light switch)", c.Lightswitch, c.Threshold)
	}
	for i, m := range c.Masks {
		if err := m.validate(); err != nil {
			return fmt.Errorf("masks[%d]: %w", i, err)
		}
	}
	if len(c.Zones) > MaxZones {
		return fmt.Errorf("zones: %d zones, at most %d", len(c.Zones), MaxZones)
	}
	seen := make(map[string]int, len(c.Zones))
	for i, z := range c.Zones {
		if !zoneNameRE.MatchString(z.Name) {
			return fmt.Errorf("zones[%d]: name %q: want 1-32 characters a-z, 0-9, _ or -, starting with a letter or digit", i, z.Name)
		}
		if j, dup := seen[z.Name]; dup {
			return fmt.Errorf("zones[%d]: name %q is already zones[%d]'s", i, z.Name, j)
		}
		seen[z.Name] = i
		if err := z.Polygon.validate(); err != nil {
			return fmt.Errorf("zones[%d] (%s): %w", i, z.Name, err)
		}
		if err := pct(fmt.Sprintf("zones[%d] (%s): threshold", i, z.Name), z.Threshold); err != nil {
			return err
		}
	}
	thr := c.Threshold
	if thr == 0 {
		thr = DefaultThreshold
	}
	if _, err := rasterizeRegions(validationW, validationH, c.Masks, c.Zones, thr); err != nil {
		return err
	}
	for i, s := range c.Schedule {
		if _, err := parseWindow(s); err != nil {
			return fmt.Errorf("schedule[%d] %q: %w", i, s, err)
		}
	}
	return nil
}

// errSize is returned by NewDetector for an impossible picture size.
var errSize = errors.New("motion: picture size must be at least 1x1 and at most 4096x4096 analysed pixels")
