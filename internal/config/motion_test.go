package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestMotionSection: a camera's motion: section is read with its
// durations, masks and zones; -motion turns detection on for every camera;
// bad values are refused naming the camera, the section and the key.
func TestMotionSection(t *testing.T) {
	yaml := `cameras:
  - name: a
    motion:
      enabled: true
      event_gap: 2s
      masks: [[[0, 0], [0.5, 0], [0.5, 0.5]]]
      zones:
        - {name: door, polygon: [[0.5, 0.5], [1, 0.5], [1, 1]]}
      schedule: ["mon-fri 08:00-17:30"]
  - name: b
    device: file:/x
`
	cfg, err := Load([]string{"-config", writeFile(t, "c.yaml", yaml, 0o600)}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Cameras[0].Motion
	if !m.Enabled || m.EventGap != 2*time.Second || len(m.Masks) != 1 || len(m.Zones) != 1 || m.Zones[0].Name != "door" || len(m.Schedule) != 1 {
		t.Errorf("camera a's motion: %+v", m)
	}
	if cfg.Cameras[1].Motion.Enabled {
		t.Error("camera b detects motion without asking")
	}
	cfg, err = Load([]string{"-config", writeFile(t, "c.yaml", yaml, 0o600), "-motion"}, noEnv, io.Discard)
	if err != nil || !cfg.Cameras[1].Motion.Enabled {
		t.Errorf("-motion: camera b %+v, %v", cfg.Cameras[1].Motion, err)
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"threshold", "motion: {enabled: true, threshold: 150}\n", "camera a: motion: threshold 150"},
		{"unknown key", "motion: {enabled: true, sensitivity: 3}\n", "sensitivity"},
		{"short polygon", "motion: {masks: [[[0, 0], [1, 1]]]}\n", "camera a: motion: masks"},
		{"schedule", "motion: {schedule: [\"mon 25:00-26:00\"]}\n", "camera a: motion: schedule"},
		{"duration", "motion: {event_gap: soon}\n", "soon"},
	} {
		yaml := "cameras:\n  - name: a\n    " + tc.yaml
		_, err := Load([]string{"-config", writeFile(t, "c.yaml", yaml, 0o600)}, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestRecordMode: record_mode events needs motion detection; continuous:
// true is record_mode continuous; contradictions and unknown modes are
// refused naming the key.
func TestRecordMode(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		args       []string
		mode       string
		continuous bool
		err        string
	}{
		{"default", "", nil, ModeManual, false, ""},
		{"continuous: true", "continuous: true\n", nil, ModeContinuous, true, ""},
		{"record_mode continuous", "record_mode: continuous\n", nil, ModeContinuous, true, ""},
		{"events", "record_mode: events\n    motion: {enabled: true}\n", nil, ModeEvents, false, ""},
		{"events by flags", "", []string{"-motion", "-record-mode", "events"}, ModeEvents, false, ""},
		{"events without motion", "record_mode: events\n", nil, "", false, "camera a: record_mode events: needs motion detection"},
		{"unknown", "record_mode: sometimes\n", nil, "", false, `record_mode "sometimes"`},
		{"contradiction", "record_mode: manual\n    continuous: true\n", nil, "", false, "record_mode manual: contradicts continuous: true"},
	} {
		yaml := "cameras:\n  - name: a\n    " + tc.yaml
		args := append([]string{"-config", writeFile(t, "c.yaml", yaml, 0o600)}, tc.args...)
		cfg, err := Load(args, noEnv, io.Discard)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if r := cfg.Cameras[0].Recording; r.RecordMode != tc.mode || r.Continuous != tc.continuous {
			t.Errorf("%s: record_mode %q continuous %v, want %q %v", tc.name, r.RecordMode, r.Continuous, tc.mode, tc.continuous)
		}
	}
}
