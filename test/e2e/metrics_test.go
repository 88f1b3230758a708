package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/camrec/camrec/internal/testutil"
)

// TestMetrics scrapes the real binary after a recording: the exposition
// passes `promtool check metrics`, parses, and agrees with the JSON status
// and the catalogue (read first: counters only grow).
func TestMetrics(t *testing.T) {
	requireTool(t, "ffmpeg")
	promtool := testutil.RequireTool(t, "promtool")
	d := startCamrec(t, "-device", "test:", "-container", "mkv", "-codec", "copy")
	waitStreaming(t, d)
	rec := record(t, d, "cam0", time.Second)
	var cs cameraStatus
	d.do(t, "GET", "/api/v1/cameras/cam0", "", &cs)

	code, body := d.do(t, "GET", "/metrics", "", nil)
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	value := func(name string, labels ...string) (float64, bool) {
		f, ok := families[name]
		if !ok {
			return 0, false
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if labelValue(m, labels[i]) != labels[i+1] {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			}
		}
		return 0, false
	}
	checks := []struct {
		what   string
		name   string
		labels []string
		ok     func(v float64) bool
		want   string
	}{
		{"streaming", "camrec_camera_state", []string{"camera", "cam0", "state", "streaming"}, func(v float64) bool { return v == 1 }, "1"},
		{"not disconnected", "camrec_camera_state", []string{"camera", "cam0", "state", "disconnected"}, func(v float64) bool { return v == 0 }, "0"},
		{"frames", "camrec_camera_frames_total", []string{"camera", "cam0"}, func(v float64) bool { return v >= float64(cs.Frames) }, "at least the JSON's frames"},
		{"the recording", "camrec_recordings_total", []string{"camera", "cam0", "outcome", "complete"}, func(v float64) bool { return v == 1 }, "1"},
		{"no failure", "camrec_recordings_total", []string{"camera", "cam0", "outcome", "failed"}, func(v float64) bool { return v == 0 }, "0"},
		{"bytes", "camrec_recording_bytes_total", []string{"camera", "cam0"}, func(v float64) bool { return v == float64(rec.Bytes) }, "the file's size"},
		{"not recording", "camrec_recording_active", []string{"camera", "cam0"}, func(v float64) bool { return v == 0 }, "0"},
		{"free space", "camrec_record_dir_free_bytes", nil, func(v float64) bool { return v > 0 }, "> 0"},
		{"build info", "camrec_build_info", nil, func(v float64) bool { return v == 1 }, "1"},
		{"process", "process_resident_memory_bytes", nil, func(v float64) bool { return v > 0 }, "> 0"},
		{"runtime", "go_goroutines", nil, func(v float64) bool { return v > 0 }, "> 0"},
	}
	for _, c := range checks {
		v, ok := value(c.name, c.labels...)
		if !ok || !c.ok(v) {
			t.Errorf("%s: %s%v = %v (present %v), want %s", c.what, c.name, c.labels, v, ok, c.want)
		}
	}
	if !strings.Contains(string(body), "# HELP camrec_recordings_total ") {
		t.Errorf("no help text for camrec_recordings_total")
	}
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestREADMEAlertRules: the alert rules the README offers pass `promtool
// check rules` and use metrics camrec exports.
func TestREADMEAlertRules(t *testing.T) {
	promtool := testutil.RequireTool(t, "promtool")
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "```yaml\ngroups:")
	if !ok {
		t.Fatal("no alert rules (a yaml block starting with groups:) in the README")
	}
	rules, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatal("unterminated alert rules block")
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, []byte("groups:"+rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	for _, name := range []string{"camrec_camera_state", "camrec_recordings_total"} {
		if !strings.Contains(rules, name) {
			t.Errorf("the rules do not use %s", name)
		}
	}
}
