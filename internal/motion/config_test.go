package motion

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func rect(x0, y0, x1, y1 float64) Polygon {
	return Polygon{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}
}

func TestDefaults(t *testing.T) {
	c := DefaultConfig()
	want := Config{
		FPS: 5, Threshold: 0.5, MinArea: 0.025, MinDiff: 15, NoiseFactor: 4, Lightswitch: 50,
		BackgroundTime: 10 * time.Second, AbsorbAfter: 10 * time.Second, LearnTime: time.Second,
		MinFrames: 2, EventGap: 5 * time.Second, PostRoll: 10 * time.Second,
	}
	if !configEqual(c, want) {
		t.Errorf("defaults %+v\nwant %+v", c, want)
	}
	// Set values stay.
	if got := (Config{Threshold: 2, EventGap: time.Minute}).WithDefaults(); got.Threshold != 2 || got.EventGap != time.Minute || got.FPS != 5 {
		t.Errorf("WithDefaults changed set values: %+v", got)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config invalid: %v", err)
	}
}

func configEqual(a, b Config) bool {
	return a.Enabled == b.Enabled && a.FPS == b.FPS && a.Threshold == b.Threshold && a.MinArea == b.MinArea &&
		a.MinDiff == b.MinDiff && a.NoiseFactor == b.NoiseFactor && a.Lightswitch == b.Lightswitch &&
		a.BackgroundTime == b.BackgroundTime && a.AbsorbAfter == b.AbsorbAfter && a.LearnTime == b.LearnTime &&
		a.MinFrames == b.MinFrames && a.EventGap == b.EventGap && a.PostRoll == b.PostRoll
}

func TestValidate(t *testing.T) {
	door := Zone{Name: "door", Polygon: rect(0.6, 0.3, 0.8, 1)}
	for _, c := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"fps high", Config{FPS: 60}, "fps 60: want 0.2 to 30 frames per second"},
		{"fps low", Config{FPS: 0.1}, "fps 0.1: want 0.2 to 30 frames per second"},
		{"fps negative", Config{FPS: -1}, "fps -1: want 0.2 to 30 frames per second"},
		{"threshold", Config{Threshold: 150}, "threshold 150: want a percentage above 0 and at most 100"},
		{"threshold NaN", Config{Threshold: math.NaN()}, "threshold NaN: want a percentage above 0 and at most 100"},
		{"min_area", Config{MinArea: -1}, "min_area -1: want a percentage above 0 and at most 100"},
		{"min_diff", Config{MinDiff: 300}, "min_diff 300: want 1 to 255 luma levels"},
		{"noise_factor", Config{NoiseFactor: 50}, "noise_factor 50: want above 0 and at most 20"},
		{"lightswitch", Config{Lightswitch: 101}, "lightswitch 101: want a percentage above 0 and at most 100"},
		{"lightswitch under threshold", Config{Threshold: 10, Lightswitch: 5}, "lightswitch 5: must be above threshold 10 (or every motion would be a light switch)"},
		{"background_time", Config{BackgroundTime: time.Millisecond}, "background_time 1ms: want 1s to 1h0m0s"},
		{"absorb_after", Config{AbsorbAfter: -time.Second}, "absorb_after -1s: want 1s to 24h0m0s"},
		{"learn_time", Config{LearnTime: 2 * time.Minute}, "learn_time 2m0s: want 100ms to 1m0s"},
		{"min_frames", Config{MinFrames: -1}, "min_frames -1: want 1 to 100"},
		{"event_gap", Config{EventGap: 2 * time.Hour}, "event_gap 2h0m0s: want 100ms to 1h0m0s"},
		{"post_roll", Config{PostRoll: time.Millisecond}, "post_roll 1ms: want 1s to 1h0m0s"},
		{"mask of 2 points", Config{Masks: []Polygon{rect(0, 0, 0.1, 0.1), {{0, 0}, {1, 1}}}}, "masks[1]: 2 points: a polygon needs at least 3"},
		{"mask outside", Config{Masks: []Polygon{{{0, 0}, {1.2, 0}, {1, 1}}}}, "masks[0]: point 2 [1.2, 0]: coordinates must be between 0 and 1 (x from the left edge, y from the top edge)"},
		{"mask negative", Config{Masks: []Polygon{{{0, 0}, {1, -0.1}, {1, 1}}}}, "masks[0]: point 2 [1, -0.1]: coordinates must be between 0 and 1 (x from the left edge, y from the top edge)"},
		{"mask flat", Config{Masks: []Polygon{{{0, 0}, {0.5, 0.5}, {1, 1}}}}, "masks[0]: the polygon has no area (its points lie on a line)"},
		{"mask everything", Config{Masks: []Polygon{rect(0, 0, 0.6, 1), rect(0.5, 0, 1, 1)}}, "masks: they cover the whole picture (160x90 analysed pixels), nothing would be watched"},
		{"zone name", Config{Zones: []Zone{{Name: "Front Door", Polygon: rect(0, 0, 1, 1)}}}, `zones[0]: name "Front Door": want 1-32 characters a-z, 0-9, _ or -, starting with a letter or digit`},
		{"zone name empty", Config{Zones: []Zone{{Polygon: rect(0, 0, 1, 1)}}}, `zones[0]: name "": want 1-32 characters a-z, 0-9, _ or -, starting with a letter or digit`},
		{"zone twice", Config{Zones: []Zone{door, {Name: "yard", Polygon: rect(0, 0, 1, 1)}, door}}, `zones[2]: name "door" is already zones[0]'s`},
		{"zone polygon", Config{Zones: []Zone{{Name: "door", Polygon: Polygon{{0, 0}, {1, 1}}}}}, "zones[0] (door): 2 points: a polygon needs at least 3"},
		{"zone threshold", Config{Zones: []Zone{{Name: "door", Polygon: rect(0, 0, 1, 1), Threshold: 120}}}, "zones[0] (door): threshold 120: want a percentage above 0 and at most 100"},
		{"zone under masks", Config{Masks: []Polygon{rect(0, 0, 0.5, 1)}, Zones: []Zone{{Name: "left", Polygon: rect(0.1, 0.1, 0.4, 0.9)}}},
			"zones[0] (left): covers no analysed pixel outside the masks at 160x90; draw it larger or unmask it"},
		{"zone too thin", Config{Zones: []Zone{{Name: "line", Polygon: rect(0.5, 0.5, 0.501, 0.6)}}},
			"zones[0] (line): covers no analysed pixel outside the masks at 160x90; draw it larger or unmask it"},
		{"schedule", Config{Schedule: []string{"mon-fri 08:00-17:30", "sun 25:00-26:00"}}, `schedule[1] "sun 25:00-26:00": time "25:00": want HH:MM from 00:00 to 24:00`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if err == nil || err.Error() != c.err {
				t.Errorf("got  %v\nwant %s", err, c.err)
			}
		})
	}
	tooMany := Config{}
	for i := range MaxZones + 1 {
		tooMany.Zones = append(tooMany.Zones, Zone{Name: "z" + itoa(i), Polygon: rect(0, 0, 1, 1)})
	}
	if err := tooMany.Validate(); err == nil || err.Error() != "zones: 65 zones, at most 64" {
		t.Errorf("65 zones: %v", err)
	}
}

// TestNewDetectorChecksAtItsSize: a zone that covers pixels at 160x90 may
// cover none on a smaller picture; NewDetector says so.
func TestNewDetectorChecksAtItsSize(t *testing.T) {
	cfg := Config{Zones: []Zone{{Name: "slit", Polygon: rect(0.5, 0.5, 0.51, 0.6)}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDetector(cfg, 160, 90); err != nil {
		t.Fatal(err)
	}
	_, err := NewDetector(cfg, 40, 23)
	if want := "motion: zones[0] (slit): covers no analysed pixel outside the masks at 40x23; draw it larger or unmask it"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	for _, size := range [][2]int{{0, 10}, {10, 0}, {5000, 10}} {
		if _, err := NewDetector(Config{}, size[0], size[1]); err != errSize {
			t.Errorf("%v: %v", size, err)
		}
	}
	if _, err := NewDetector(Config{FPS: 99}, 16, 9); err == nil || err.Error() != "motion: fps 99: want 0.2 to 30 frames per second" {
		t.Errorf("bad config: %v", err)
	}
}

// TestRasterize: pixel centres inside the polygon, top/left edges in,
// bottom/right out.
func TestRasterize(t *testing.T) {
	grid := func(p Polygon, w, h int) string {
		var b strings.Builder
		on := make([]bool, w*h)
		p.rasterize(w, h, nil, func(i int) { on[i] = true })
		for y := range h {
			for x := range w {
				if on[y*w+x] {
					b.WriteByte('#')
				} else {
					b.WriteByte('.')
				}
			}
			b.WriteByte('\n')
		}
		return b.String()
	}
	for _, c := range []struct {
		name string
		p    Polygon
		want string
	}{
		{"square", rect(0.25, 0.25, 0.75, 0.75), "" +
			"........\n" +
			"........\n" +
			"..####..\n" +
			"..####..\n" +
			"..####..\n" +
			"..####..\n" +
			"........\n" +
			"........\n"},
		{"whole", rect(0, 0, 1, 1), strings.Repeat("########\n", 8)},
		// Edges through pixel centres: 0.1875 = centre of pixel 1.
		{"edges on centres", rect(0.1875, 0.1875, 0.5625, 0.5625), "" +
			"........\n" +
			".###....\n" +
			".###....\n" +
			".###....\n" +
			"........\n" +
			"........\n" +
			"........\n" +
			"........\n"},
		{"triangle", Polygon{{0, 0}, {1, 0}, {0, 1}}, "" +
			"#######.\n" +
			"######..\n" +
			"#####...\n" +
			"####....\n" +
			"###.....\n" +
			"##......\n" +
			"#.......\n" +
			"........\n"},
		// Concave: a U.
		{"concave", Polygon{{0, 0}, {0.25, 0}, {0.25, 0.75}, {0.75, 0.75}, {0.75, 0}, {1, 0}, {1, 1}, {0, 1}}, "" +
			"##....##\n" +
			"##....##\n" +
			"##....##\n" +
			"##....##\n" +
			"##....##\n" +
			"##....##\n" +
			"########\n" +
			"########\n"},
	} {
		if got := grid(c.p, 8, 8); got != c.want {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
	// Two polygons sharing an edge never both take a pixel, and together
	// cover everything.
	left, right := rect(0, 0, 0.37, 1), rect(0.37, 0, 1, 1)
	for _, w := range []int{7, 8, 40, 160} {
		count := make([]int, w*5)
		left.rasterize(w, 5, nil, func(i int) { count[i]++ })
		right.rasterize(w, 5, nil, func(i int) { count[i]++ })
		if slices.ContainsFunc(count, func(n int) bool { return n != 1 }) {
			t.Errorf("width %d: shared edge counted %v", w, count)
		}
	}
}

func TestPointEncoding(t *testing.T) {
	const y = `
threshold: 1.5
event_gap: 8s
masks:
  - [[0, 0], [0.5, 0], [0.5, 0.25]]
zones:
  - name: door
    polygon: [[0.6, 0.3], [0.8, 0.3], [0.8, 1], [0.6, 1]]
    threshold: 2
schedule: ["mon-fri 08:00-17:30"]
`
	var c Config
	if err := yaml.Unmarshal([]byte(y), &c); err != nil {
		t.Fatal(err)
	}
	if c.Threshold != 1.5 || c.EventGap != 8*time.Second || len(c.Masks) != 1 || c.Masks[0][2] != (Point{0.5, 0.25}) ||
		len(c.Zones) != 1 || c.Zones[0].Name != "door" || c.Zones[0].Polygon[3] != (Point{0.6, 1}) || c.Zones[0].Threshold != 2 {
		t.Errorf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if err := yaml.Unmarshal([]byte("masks: [[[0, 0, 1], [1, 0], [1, 1]]]"), &c); err == nil || !strings.Contains(err.Error(), "point: want [x, y]") {
		t.Errorf("3 coordinates: %v", err)
	}
	out, err := yaml.Marshal(Zone{Name: "door", Polygon: Polygon{{0.25, 0.5}, {1, 0}, {1, 1}}})
	if err != nil || string(out) != "name: door\npolygon:\n    - - 0.25\n      - 0.5\n    - - 1\n      - 0\n    - - 1\n      - 1\n" {
		t.Errorf("yaml %q %v", out, err)
	}
	js, err := json.Marshal(Zone{Name: "door", Polygon: Polygon{{0.25, 0.5}, {1, 0}, {1, 1}}})
	if err != nil || string(js) != `{"name":"door","polygon":[[0.25,0.5],[1,0],[1,1]]}` {
		t.Errorf("json %s %v", js, err)
	}
	var z Zone
	if err := json.Unmarshal(js, &z); err != nil || z.Polygon[0] != (Point{0.25, 0.5}) {
		t.Errorf("json back: %+v %v", z, err)
	}
	if err := json.Unmarshal([]byte(`{"polygon":[[1]]}`), &z); err == nil || !strings.Contains(err.Error(), "want [x, y]") {
		t.Errorf("json 1 coordinate: %v", err)
	}
}
