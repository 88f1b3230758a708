package vmtest

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/procstat"
	"github.com/camrec/camrec/test/vm/internal/scene"
)

// make bench-motion: camrec's motion detection and Motion (Debian's motion
// 4.5.1) in turn on the same v4l2loopback camera playing the same scripted
// scene, in this VM. Off unless -motion.bench is given.
var (
	motionBench   = flag.Bool("motion.bench", false, "run TestBenchMotion (make bench-motion)")
	motionRounds  = flag.Int("motion.rounds", 2, "rounds of camrec, Motion, camrec without detection")
	motionWarmup  = flag.Duration("motion.warmup", 8*time.Second, "time each detector gets on the running camera before the scene plays")
	motionScene   = flag.String("motion.scene", "", "the scene pre-rendered by test/vm/motionscene (a path in the VM, e.g. /cache/motion-bench.mjpeg); empty: render it here (minutes under the emulated CPU)")
	motionServers = flag.String("motion.servers", "camrec,motion,camrec-off", "what runs in each round, in order")
	motionSize    = flag.String("motion.size", "1280x720", "the scene's size (test/vm/motionscene -size must match)")
)

// Motion's event_gap, in seconds, and camrec's default.
const benchEventGap = 5

// motionRun is one detector over the scene.
type motionRun struct {
	Server    string  `json:"server"`
	Round     int     `json:"round"`
	WindowS   float64 `json:"window_s"`
	CPUS      float64 `json:"cpu_s"`
	DetectorS float64 `json:"detector_s,omitempty"` // camrec: camrec_motion_analysis_seconds_total in the window
	Analysed  uint64  `json:"frames_analysed,omitempty"`
	Skipped   uint64  `json:"frames_skipped,omitempty"`
	// Events: start and last motion, seconds into the scene (Motion: the
	// end hook's time less event_gap).
	Events [][2]float64 `json:"events"`
	PerBox []int        `json:"events_per_box"`
	// Delays: per box, its first event's start less the entry and last
	// motion less the exit, seconds (NaN: none).
	Delays [][2]float64 `json:"-"`
	False  int          `json:"false_events"`
}

// TestBenchMotion plays benchMotionScene through v4l2loopback once per
// detector and round: camrec with motion detection at its defaults (5 fps,
// event_gap 5 s) and a mask over the blinking square, recording off;
// Motion 4.5.1 with the benchmark config of /work/shared/motion.md
// (event_gap 5, framerate 30, the same mask as a PGM mask_file); camrec
// without detection (what capture alone costs). Each gets the camera for
// -motion.warmup before the scene plays; its CPU (utime+stime) is measured
// from the scene's first frame to its last, its events until event_gap + 2 s
// after. It writes motion-bench.md and .json to the out folder.
func TestBenchMotion(t *testing.T) {
	if !*motionBench {
		t.Skip("a benchmark: make bench-motion runs it (-motion.bench)")
	}
	v := needVM(t)
	motion := "/usr/local/bin/motion"
	if _, err := os.Stat(motion); err != nil {
		t.Fatalf("motion is not installed on the host (apt-get install motion): %v", err)
	}
	// v4l2loopback's writer overwrites its buffers in turn whether or not
	// a reader still holds one (max_buffers defaults to 2), and a reader
	// that lags jumps to the newest: Motion, which decodes each frame from
	// the mapped buffer (slowly, under the emulated CPU), then decodes
	// frames being overwritten and sees garbage (its log: "Corrupt image").
	// A UVC camera leaves a dequeued buffer alone; 32 buffers give a reader
	// about a second before its buffer is reused.
	reloadLoopback(t, "max_buffers=32")
	t.Cleanup(func() { reloadLoopback(t) })
	s, err := scene.Bench.Sized(*motionSize)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var file string
	if *motionScene == "" {
		file = renderScene(t, v, s, dir)
	} else {
		// Rendered on the host from the same definition: its graph must be
		// this one. Copied once into the guest's memory (the writer of each
		// run reads it whole).
		if g, err := os.ReadFile(*motionScene + ".graph"); err != nil || string(g) != s.Graph() {
			t.Fatalf("%s was not rendered from this scene (%v): run test/vm/motionscene -size %s again", *motionScene, err, *motionSize)
		}
		file = filepath.Join(dir, "scene.mjpeg")
		if err := copyFile(*motionScene, file); err != nil {
			t.Fatal(err)
		}
	}
	var runs []motionRun
	for round := 1; round <= *motionRounds; round++ {
		for _, server := range strings.Split(*motionServers, ",") {
			r := benchMotionOnce(t, v, s, file, server, motion)
			r.Round = round
			t.Logf("%s round %d: CPU %.2f s in %.1f s (%.1f %% of a core), events %v, per box %v, %d false",
				server, round, r.CPUS, r.WindowS, 100*r.CPUS/r.WindowS, r.Events, r.PerBox, r.False)
			runs = append(runs, r)
		}
	}
	table := motionBenchTable(s, runs)
	t.Log("\n" + table)
	if v.out != "" {
		b, _ := json.MarshalIndent(runs, "", "  ")
		for name, data := range map[string][]byte{"motion-bench.json": b, "motion-bench.md": []byte(table)} {
			if err := os.WriteFile(filepath.Join(v.out, name), data, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
}

const benchMotionPort = 18340

func benchMotionOnce(t *testing.T, v vm, s scene.Scene, file, server, motion string) motionRun {
	t.Helper()
	dir := t.TempDir()
	writer, play := startScene(t, v, s, "/dev/video10", file, dir)
	defer writer.stop(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", benchMotionPort)
	var p *proc
	var evs <-chan sseEvent
	evFile := filepath.Join(dir, "events.txt")
	motionLog := filepath.Join(dir, "motion.log")
	switch server {
	case "camrec", "camrec-off":
		mot := ""
		if server == "camrec" {
			mot = "    motion:\n      enabled: true\n      masks:\n        - " + scene.MaskYAML() + "\n"
		}
		cfg := filepath.Join(dir, "camrec.yaml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf("listen: 127.0.0.1:%d\nrecord_dir: %s\nlog_level: warn\ncameras:\n  - name: cam0\n    device: /dev/video10\n    size: %dx%d\n    fps: %d\n%s",
			benchMotionPort, filepath.Join(dir, "rec"), s.W, s.H, s.FPS, mot)), 0o600); err != nil {
			t.Fatal(err)
		}
		p = start(t, v, v.bin, "-config", cfg)
		waitHTTP(t, p, base+"/healthz", 60*time.Second)
		if server == "camrec" {
			evs = openEvents(t, base)
			waitAnalysed(t, p, base, 10, 60*time.Second)
		}
	default:
		mask := filepath.Join(dir, "mask.pgm")
		if err := os.WriteFile(mask, scene.MaskPGM(s.W, s.H), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, "motion.conf")
		conf := fmt.Sprintf(`daemon off
log_level 6
log_file %s
target_dir %s
video_device /dev/video10
video_params palette=8
width %d
height %d
framerate %d
text_right ""
despeckle_filter EedDl
event_gap %d
picture_output off
movie_output off
webcontrol_port 0
stream_port 0
mask_file %s
on_event_start echo start %%v $(date +%%%%s.%%%%N) >> %s
on_event_end echo end %%v $(date +%%%%s.%%%%N) >> %s
`, motionLog, filepath.Join(dir, "mb"), s.W, s.H, s.FPS, benchEventGap, mask, evFile, evFile)
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		p = start(t, v, motion, "-n", "-c", cfg)
	}
	defer p.stop(t)
	time.Sleep(*motionWarmup) // a benchmark's warm-up, the same for every detector
	select {
	case <-p.done:
		t.Fatalf("%s exited (%v) during the warm-up:\n%s", server, p.err, p.output.String())
	default:
	}

	pid := p.cmd.Process.Pid
	det0 := detectorSeconds(base, server)
	cpu0, t0 := procstat.Of(pid), time.Now()
	written := play(3 * time.Minute)
	cpu1, win := procstat.Of(pid), time.Since(t0)
	det1 := detectorSeconds(base, server)
	r := motionRun{Server: server, WindowS: win.Seconds(), CPUS: (cpu1 - cpu0).Seconds(), DetectorS: det1 - det0}

	// Events until event_gap + 2 s after the scene (a benchmark's fixed
	// window: Motion has no status to wait on).
	time.Sleep((benchEventGap + 2) * time.Second)
	var found []detected
	switch server {
	case "camrec":
		st := motionStatus(t, base)
		r.Analysed, r.Skipped = st.FramesAnalysed, st.FramesSkipped
		for done := false; !done; {
			select {
			case e := <-evs:
				switch e.Type {
				case "motion_started":
					found = append(found, detected{start: e.Data.Time})
				case "motion_ended":
					if n := len(found); n > 0 {
						found[n-1].last = e.Data.Time
					}
				}
			default:
				done = true
			}
		}
	case "motion":
		found = motionHookEvents(t, evFile)
	}
	for _, e := range found {
		last := -1.0
		if !e.last.IsZero() {
			last = sceneTime(written, e.last)
		}
		r.Events = append(r.Events, [2]float64{sceneTime(written, e.start), last})
	}
	per, unmatched := matchEvents(s.Boxes, written, s.FPS, found)
	for i, p := range per {
		r.PerBox = append(r.PerBox, len(p))
		d := [2]float64{math.NaN(), math.NaN()}
		if len(p) > 0 {
			d[0] = p[0].start.Sub(at(written, s.FPS, s.Boxes[i].Entry)).Seconds()
			if !p[0].last.IsZero() {
				d[1] = p[0].last.Sub(at(written, s.FPS, s.Boxes[i].Exit)).Seconds()
			}
		}
		r.Delays = append(r.Delays, d)
	}
	r.False = len(unmatched)
	// Each box's detection relative to its own entry and exit frames.
	for i, b := range s.Boxes {
		for _, e := range per[i] {
			msg := fmt.Sprintf("%s box %d: start %+.2f s from entry", server, i+1, e.start.Sub(at(written, s.FPS, b.Entry)).Seconds())
			if !e.last.IsZero() {
				msg += fmt.Sprintf(", last motion %+.2f s from exit", e.last.Sub(at(written, s.FPS, b.Exit)).Seconds())
			}
			t.Log(msg)
		}
	}
	if server == "motion" {
		b, _ := os.ReadFile(motionLog)
		t.Logf("motion's log (last lines):\n%s", lastLines(string(b), 25))
		if v.out != "" {
			if f, err := os.OpenFile(filepath.Join(v.out, sanitize(t.Name())+".motion-daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintf(f, "=== run of %s\n%s", time.Now().Format(time.RFC3339), b)
				f.Close()
			}
		}
	}
	return r
}

// motionHookEvents reads the events Motion's hooks wrote: "start <n> <unix
// time>" and "end <n> <unix time>"; an event's last motion is its end less
// event_gap (Motion counts event_gap in whole seconds).
func motionHookEvents(t *testing.T, path string) []detected {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []detected
	byID := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			t.Errorf("motion hook line %q", sc.Text())
			continue
		}
		sec, err := strconv.ParseFloat(fs[2], 64)
		if err != nil {
			t.Errorf("motion hook line %q", sc.Text())
			continue
		}
		ts := time.Unix(0, int64(sec*1e9))
		switch fs[0] {
		case "start":
			byID[fs[1]] = len(out)
			out = append(out, detected{start: ts})
		case "end":
			if i, ok := byID[fs[1]]; ok {
				out[i].last = ts.Add(-benchEventGap * time.Second)
			}
		}
	}
	return out
}

var detectorMetric = regexp.MustCompile(`(?m)^camrec_motion_analysis_seconds_total\{[^}]*\} ([0-9.eE+-]+)$`)

// detectorSeconds reads camrec's camrec_motion_analysis_seconds_total (0
// for other servers or when absent).
func detectorSeconds(base, server string) float64 {
	if server != "camrec" {
		return 0
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := detectorMetric.FindSubmatch(b)
	if m == nil {
		return 0
	}
	x, _ := strconv.ParseFloat(string(m[1]), 64)
	return x
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// motionBenchTable is the report: CPU per detector and round, the ratio
// camrec/Motion per round, and the events each found.
func motionBenchTable(s scene.Scene, runs []motionRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scene: %dx%d at %d fps MJPEG, %g s; boxes (entry–exit, s):", s.W, s.H, s.FPS, s.Dur)
	for _, x := range s.Boxes {
		fmt.Fprintf(&b, " %g–%g", x.Entry, x.Exit)
	}
	fmt.Fprintf(&b, "; lamp on at %g s, off at %g s; ramp +%g over %g–%g s; masked blinking square; noise %d.\n\n",
		s.Lights[0].At, s.Lights[1].At, s.Ramp.Delta, s.Ramp.From, s.Ramp.To, s.Noise)
	b.WriteString("| round | detector | CPU s / window s | CPU % of one core | camrec / Motion | events per box (start − entry, last motion − exit, s) | false events | all events (start–last motion, s into the scene) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	cpuOf := map[[2]any]float64{}
	for _, r := range runs {
		cpuOf[[2]any{r.Round, r.Server}] = r.CPUS / r.WindowS
	}
	for _, r := range runs {
		ratio := ""
		if r.Server == "camrec" {
			if m := cpuOf[[2]any{r.Round, "motion"}]; m > 0 {
				ratio = fmt.Sprintf("%.3f×", (r.CPUS/r.WindowS)/m)
			}
		}
		name := map[string]string{"camrec": "camrec (motion on)", "motion": "Motion 4.5.1", "camrec-off": "camrec, detection off"}[r.Server]
		if r.Server == "camrec" && r.Analysed > 0 {
			name += fmt.Sprintf(" — detector %.2f s, %d frames analysed, %d skipped", r.DetectorS, r.Analysed, r.Skipped)
		}
		per, falseEv, evs := "—", "—", "—"
		if r.Server != "camrec-off" {
			var ps []string
			for i, n := range r.PerBox {
				x := strconv.Itoa(n)
				if d := r.Delays[i]; !math.IsNaN(d[0]) {
					x += fmt.Sprintf(" (%+.2f", d[0])
					if !math.IsNaN(d[1]) {
						x += fmt.Sprintf(", %+.2f", d[1])
					}
					x += ")"
				}
				ps = append(ps, x)
			}
			per = strings.Join(ps, "; ")
			falseEv = strconv.Itoa(r.False)
			var es []string
			for _, e := range r.Events {
				if e[1] < 0 {
					es = append(es, fmt.Sprintf("%.2f–(no end)", e[0]))
				} else {
					es = append(es, fmt.Sprintf("%.2f–%.2f", e[0], e[1]))
				}
			}
			evs = strings.Join(es, ", ")
			if evs == "" {
				evs = "none"
			}
		}
		fmt.Fprintf(&b, "| %d | %s | %.2f / %.1f | %.1f | %s | %s | %s | %s |\n",
			r.Round, name, r.CPUS, r.WindowS, 100*r.CPUS/r.WindowS, ratio, per, falseEv, evs)
	}
	return b.String()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
