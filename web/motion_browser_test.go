package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"math"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/crypto/bcrypt"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/internal/auth"
	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/detect"
	"github.com/camrec/camrec/pipeline/eventlog"
	"github.com/camrec/camrec/pipeline/store"
)

// fakeMotion is a camera's motion detection as the API sees it
// (api.MotionView): its status as the test sets it, and what the page asked
// of it.
type fakeMotion struct {
	mu    sync.Mutex
	st    detect.Status
	armed []string // each SetArmed: "true", "false" or "null"
	areas []areas  // each SetAreas
}

type areas struct {
	Masks []motion.Polygon `json:"masks"`
	Zones []motion.Zone    `json:"zones"`
}

// newFakeMotion is armed by a schedule, with one zone, "door".
func newFakeMotion() *fakeMotion {
	return &fakeMotion{st: detect.Status{Enabled: true, Armed: true, ArmedBy: "schedule", Score: 0.2,
		Zones: []motion.Zone{{Name: "door", Polygon: motion.Polygon{{X: 0.7, Y: 0.1}, {X: 0.95, Y: 0.1}, {X: 0.95, Y: 0.9}, {X: 0.7, Y: 0.9}}}}}}
}

func (f *fakeMotion) Status() detect.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.ActiveZones = slices.Clone(st.ActiveZones)
	return st
}

func (f *fakeMotion) SetArmed(armed *bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if armed == nil {
		f.armed = append(f.armed, "null")
		f.st.Override, f.st.Armed, f.st.ArmedBy = nil, true, "schedule"
		return nil
	}
	v := *armed
	f.armed = append(f.armed, fmt.Sprint(v))
	f.st.Override, f.st.Armed, f.st.ArmedBy = &v, v, "user"
	return nil
}

func (f *fakeMotion) SetAreas(masks []motion.Polygon, zones []motion.Zone) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.areas = append(f.areas, areas{Masks: masks, Zones: zones})
	if masks != nil {
		f.st.Masks = masks
	}
	if zones != nil {
		f.st.Zones = zones
	}
	return nil
}

func (f *fakeMotion) setActive(active bool, zones ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Active, f.st.ActiveZones = active, nil
	if active {
		f.st.ActiveZones, f.st.Score = zones, 3.4
	}
}

func (f *fakeMotion) armCalls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.armed, " ")
}

func (f *fakeMotion) lastAreas() (areas, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.areas) == 0 {
		return areas{}, 0
	}
	return f.areas[len(f.areas)-1], len(f.areas)
}

// oneRecording is a recordings catalogue (api.Catalog) of one file.
type oneRecording struct {
	rec  store.Recording
	path string
}

func (c *oneRecording) List(camera string) []store.Recording {
	if camera != "" && camera != c.rec.Camera {
		return nil
	}
	return []store.Recording{c.rec}
}

func (c *oneRecording) Get(id string) (store.Recording, error) {
	if id != c.rec.ID {
		return store.Recording{}, fmt.Errorf("recording %q: %w", id, defs.ErrNotFound)
	}
	return c.rec, nil
}

func (c *oneRecording) Open(id string) (*os.File, store.Recording, error) {
	rec, err := c.Get(id)
	if err != nil {
		return nil, rec, err
	}
	f, err := os.Open(c.path)
	return f, rec, err
}

func (c *oneRecording) Delete(id string) error {
	return errors.New("the test's recording stays")
}

// Sizes of the test camera: 4:3 in the page's 16:9 preview, so that the
// editor's points must leave out the bars either side of the picture.
const (
	motionCamW = 640
	motionCamH = 480
	// recOffset is where the recorded event lies in its recording.
	recOffset = 4.0
)

// motionRig is the real API server with a streaming test: camera, a fake
// motion detection, the real events catalogue and bus, and a recording
// catalogue of one 10 s MP4 in which the first event lies.
type motionRig struct {
	srv      *api.Server
	motion   *fakeMotion
	bus      *events.Bus
	log      *eventlog.Log
	recorded string // the ID of the event that lies in the recording
}

func newMotionRig(t *testing.T, a *auth.Authenticator) *motionRig {
	t.Helper()
	ffmpeg := testutil.RequireTool(t, "ffmpeg")
	dir := t.TempDir()
	clip := filepath.Join(dir, "cam0-20261208-100000.mp4")
	out, err := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=10:d=10",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("make the clip: %v\n%s", err, out)
	}
	fi, err := os.Stat(clip)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	evlog, err := eventlog.Open(filepath.Join(dir, ".events"), logger)
	if err != nil {
		t.Fatal(err)
	}
	// The recording ran an hour ago for 10 s; the event lies 4 s into it.
	recStart := time.Now().Add(-time.Hour).Truncate(time.Second)
	recEnd := recStart.Add(10 * time.Second)
	cat := &oneRecording{path: clip, rec: store.Recording{ID: filepath.Base(clip), Camera: "cam0", StartedAt: recStart,
		EndedAt: &recEnd, DurationS: 10, Bytes: fi.Size(), Container: "mp4", VideoCodec: "h264", Width: 320, Height: 240, State: "complete"}}
	start := recStart.Add(recOffset * time.Second)
	id := addEvent(t, evlog, start, 2*time.Second, false, "door")

	src, err := pipeline.NewSource("test:", pipeline.SourceOptions{Width: motionCamW, Height: motionCamH, FPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	bus := events.NewBus(64)
	cam := pipeline.NewCamera(pipeline.CameraConfig{Name: "cam0", Device: "test:", FPS: 10, Events: bus}, src, logger)
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); cam.Run(ctx) }()
	t.Cleanup(func() { stop(); <-ran })

	m := newFakeMotion()
	srv := api.New(api.Config{Auth: a, Catalog: cat, Events: bus, MotionEvents: evlog,
		Cameras: []api.Camera{{View: cam, Motion: m}}})
	return &motionRig{srv: srv, motion: m, bus: bus, log: evlog, recorded: id}
}

// addEvent catalogues an event of cam0 with a snapshot; open: still going
// on.
func addEvent(t *testing.T, l *eventlog.Log, start time.Time, d time.Duration, open bool, zones ...string) string {
	t.Helper()
	e := eventlog.Event{Start: start, End: start.Add(d), Peak: 3.4, PeakTime: start.Add(d / 2), Zones: zones}
	id, err := l.Begin("cam0", e, snapshotJPEG(t))
	if err != nil {
		t.Fatal(err)
	}
	if !open {
		e.ID, e.Open = id, false
		if err := l.Update(e, nil); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func snapshotJPEG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := range 120 {
		for x := range 160 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y * 2), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tab is a browser tab with the test's helpers.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func (b tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b tab) wait(what, expr string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

func evalJS[T any](b tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

const card = `[data-camera="cam0"]`

// click clicks the middle of the element sel with the mouse, as a user
// does (at coordinates: chromedp's node ids go stale in a page that
// changes under them).
func (b tab) click(sel string) {
	b.t.Helper()
	// Aim where the element is and is on top (not under something that
	// moved over it), as a user's pointer would.
	var at []float64
	b.wait("click "+sel+": the element in view and on top", `(() => {
		const e = document.querySelector(`+jsString(sel)+`);
		if (!e) return false;
		e.scrollIntoView({block: 'center'});
		const r = e.getBoundingClientRect();
		const x = r.left + r.width / 2, y = r.top + r.height / 2;
		const hit = document.elementFromPoint(x, y);
		return r.width > 0 && hit !== null && (hit === e || e.contains(hit));
	})()`)
	at = evalJS[[]float64](b, `(() => {
		const r = document.querySelector(`+jsString(sel)+`).getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2];
	})()`)
	b.do("click "+sel, chromedp.MouseClickXY(at[0], at[1]))
}

// clickPicture clicks the point (fx, fy) of the camera's picture as the
// preview shows it (letterboxed in its 16:9 box).
func (b tab) clickPicture(fx, fy float64) {
	b.t.Helper()
	box := evalJS[[]float64](b, `(() => {
		const img = document.querySelector('`+card+` img.preview');
		const r = img.getBoundingClientRect();
		const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
		const w = img.naturalWidth * s, h = img.naturalHeight * s;
		return [r.left + (r.width - w) / 2, r.top + (r.height - h) / 2, w, h];
	})()`)
	b.do(fmt.Sprintf("click the picture at %.2f, %.2f", fx, fy), chromedp.MouseClickXY(box[0]+fx*box[2], box[1]+fy*box[3]))
}

// TestMotionPage drives the page's motion parts in headless Chromium
// against the real API: the indicator follows motion_started and
// motion_ended as they come over the event stream, the event list shows
// the events with their snapshots and plays the recorded one from its
// second, the arm toggle and "follow schedule" send armed false and null,
// the editor saves polygons drawn with the mouse and with the keyboard,
// and an event is deleted.
func TestMotionPage(t *testing.T) {
	rig := newMotionRig(t, nil)
	srv := httptest.NewServer(rig.srv.Handler())
	defer srv.Close()
	ctx, closeBrowser := newTab(t)
	defer closeBrowser() // before srv.Close, which waits for the page's streams
	b := tab{t, ctx}

	b.do("open the page", chromedp.EmulateViewport(1000, 900), chromedp.Navigate(srv.URL+"/"))
	b.wait("the preview's first frame", `document.querySelector('`+card+` img.preview')?.naturalWidth === `+fmt.Sprint(motionCamW))
	b.wait("the armed indicator", `(() => { const c = document.querySelector('`+card+`');
		return c.dataset.motion === 'armed' && c.querySelector('.motion-badge').textContent === 'Armed'
			&& c.querySelector('.motion-state').textContent === 'Motion detection: armed by schedule'; })()`)
	b.wait("the page live", `document.body.dataset.live === 'events'`)

	// The catalogued event, with its snapshot loaded.
	recorded := fmt.Sprintf(`#motion-events li[data-id=%q]`, rig.recorded)
	b.wait("the recorded event with its snapshot", `(() => { const li = document.querySelector('`+recorded+`');
		return li && li.querySelector('img.ev-snap').complete && li.querySelector('img.ev-snap').naturalWidth > 0; })()`)
	meta := evalJS[string](b, `document.querySelector('`+recorded+` .rec-meta').textContent`)
	if meta != "0:02 · door · peak 3.4 %" {
		t.Errorf("the event's line reads %q, want its duration, zone and peak", meta)
	}

	// Motion starts: the indicator says so from the event, and the new
	// event heads the list, going on.
	live := addEvent(t, rig.log, time.Now(), time.Second, true, "door")
	rig.motion.setActive(true, "door")
	rig.bus.Publish(events.Event{Type: events.MotionStarted, Camera: "cam0", Score: 3.4, Zones: []string{"door"},
		EventID: live, SnapshotURL: detect.SnapshotURL(live)})
	b.wait("the motion indicator", `(() => { const c = document.querySelector('`+card+`');
		return c.dataset.motion === 'active' && c.querySelector('.motion-badge').textContent === 'Motion'
			&& c.querySelector('.motion-state').textContent.startsWith('Motion in door'); })()`)
	liveItem := fmt.Sprintf(`#motion-events li[data-id=%q]`, live)
	b.wait("the new event first in the list, going on", `(() => { const li = document.querySelector('#motion-events li');
		return li && li.dataset.id === `+jsString(live)+` && li.dataset.active === 'true' && li.querySelector('img.ev-snap').naturalWidth > 0; })()`)

	// Motion ends.
	e, err := rig.log.Get(live)
	if err != nil {
		t.Fatal(err)
	}
	e.Open = false
	if err := rig.log.Update(e, nil); err != nil {
		t.Fatal(err)
	}
	rig.motion.setActive(false)
	rig.bus.Publish(events.Event{Type: events.MotionEnded, Camera: "cam0", Score: 3.4, Zones: []string{"door"},
		EventID: live, SnapshotURL: detect.SnapshotURL(live)})
	b.wait("the indicator back to armed", `document.querySelector('`+card+`').dataset.motion === 'armed'`)
	b.wait("the event ended, not recorded", `(() => { const li = document.querySelector('`+liveItem+`');
		return li.dataset.active === 'false' && li.dataset.recorded === 'false' && li.querySelector('.rec-meta').textContent.endsWith('not recorded'); })()`)

	// The recorded event plays from its second: what was played starts
	// there, and it goes on playing.
	b.click(recorded + " .ev-open")
	b.wait("the video to play from the event's second", `(() => { const v = document.querySelector('`+recorded+` video');
		return v && v.played.length > 0 && v.currentTime > v.played.start(0) + 0.2; })()`)
	played := evalJS[[]float64](b, `(() => { const v = document.querySelector('`+recorded+` video'); return [v.played.start(0), v.currentTime]; })()`)
	t.Logf("the video played from %.2f s (now at %.2f s); the event lies at %.1f s", played[0], played[1], recOffset)
	if math.Abs(played[0]-recOffset) > 0.15 {
		t.Errorf("the video played from %.2f s, want %.1f s (the event's offset)", played[0], recOffset)
	}
	// The one that was not recorded shows its snapshot instead.
	b.click(liveItem + " .ev-open")
	b.wait("its snapshot", `(() => { const f = document.querySelector('`+liveItem+` figure.ev-player');
		return f && f.querySelector('img').naturalWidth > 0 && /Not recorded/.test(f.textContent); })()`)

	// Disarm, then follow the schedule again.
	b.click(card + " .motion-arm")
	b.wait("the disarmed indicator", `(() => { const c = document.querySelector('`+card+`');
		return c.dataset.motion === 'disarmed' && c.querySelector('.motion-state').textContent === 'Motion detection: disarmed by you'
			&& c.querySelector('.motion-arm').textContent === 'Arm' && !c.querySelector('.motion-follow').hidden; })()`)
	if got := rig.motion.armCalls(); got != "false" {
		t.Fatalf("SetArmed calls %q, want false", got)
	}
	b.click(card + " .motion-follow")
	b.wait("armed by schedule again", `(() => { const c = document.querySelector('`+card+`');
		return c.dataset.motion === 'armed' && c.querySelector('.motion-follow').hidden; })()`)
	if got := rig.motion.armCalls(); got != "false null" {
		t.Errorf("SetArmed calls %q, want false, then null", got)
	}

	// The editor: the configured zone shows; a mask drawn with the mouse
	// (closed at its first corner), a zone drawn with the keyboard, the
	// old zone deleted, saved.
	b.click(card + " .motion-editor summary")
	b.wait("the existing zone over the preview and in the list", `(() => { const c = document.querySelector('`+card+`');
		return !c.querySelector('svg.areas').hidden && c.querySelectorAll('svg.areas polygon.zone').length === 1
			&& c.querySelector('.areas-list').textContent.includes('Zone door'); })()`)
	b.do("scroll the preview into view", chromedp.Evaluate[chromedp.Void](`document.querySelector('`+card+` img.preview').scrollIntoView({block: 'center'})`))
	clicks := [][2]float64{{0.1, 0.2}, {0.45, 0.15}, {0.3, 0.6}}
	for _, p := range clicks {
		b.clickPicture(p[0], p[1])
	}
	b.wait("three corners", `document.querySelectorAll('`+card+` svg.areas circle.corner').length === 3`)
	b.clickPicture(0.105, 0.205) // at the first corner: closes
	b.wait("the mask", `document.querySelectorAll('`+card+` svg.areas polygon.mask').length === 1`)

	b.click(card + " .kind-zone")
	b.do("name the zone yard", chromedp.KeyEvent("yard")) // the name's field has the focus
	b.click(card + " .draw-start")
	if !evalJS[bool](b, `document.activeElement === document.querySelector('`+card+` svg.areas')`) {
		t.Fatal("Draw did not move the focus to the drawing area")
	}
	// 1 % a step.
	keys := func(k string, n int) string { return strings.Repeat(k, n) }
	b.do("a corner", chromedp.KeyEvent(kb.Enter))
	b.do("a corner 10 % right", chromedp.KeyEvent(keys(kb.ArrowRight, 10)), chromedp.KeyEvent(kb.Enter))
	b.do("a corner 30 % down", chromedp.KeyEvent(keys(kb.ArrowDown, 30)), chromedp.KeyEvent(kb.Enter))
	b.do("a stray corner, undone", chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent(kb.Enter), chromedp.KeyEvent(kb.Backspace))
	status := evalJS[string](b, `document.querySelector('`+card+` .editor-status').textContent`)
	if !strings.HasPrefix(status, "Corner removed: 3 left") {
		t.Errorf("the editor's status says %q after Backspace", status)
	}
	b.click(card + " .draw-close")
	b.wait("the zone yard", `[...document.querySelectorAll('`+card+` .areas-list li')].map(li => li.querySelector('.area-name').textContent).join() === 'Zone door,Mask 1,Zone yard'`)
	b.click(card + ` .areas-list li:first-child button`)
	b.wait("the page to say the areas are not saved", `document.querySelector('`+card+`').dataset.areas === 'unsaved'`)
	b.click(card + " .areas-save")
	b.wait("the areas saved", `document.querySelector('`+card+`').dataset.areas === 'saved' && /^Saved/.test(document.querySelector('`+card+` .editor-status').textContent)`)

	got, n := rig.motion.lastAreas()
	if n != 1 {
		t.Fatalf("%d SetAreas calls, want 1", n)
	}
	gotJSON, _ := json.Marshal(got)
	t.Logf("saved %s", gotJSON)
	if len(got.Masks) != 1 || len(got.Masks[0]) != 3 {
		t.Fatalf("saved masks %s, want one of 3 corners", gotJSON)
	}
	for i, p := range got.Masks[0] {
		if p.X < 0 || p.X > 1 || p.Y < 0 || p.Y > 1 || math.Abs(p.X-clicks[i][0]) > 0.01 || math.Abs(p.Y-clicks[i][1]) > 0.01 {
			t.Errorf("mask corner %d is %v, want the click at %v", i, p, clicks[i])
		}
	}
	// The keyboard's cursor starts where the last click was; the zone's
	// corners lie 10 % right and 30 % down from its first.
	if len(got.Zones) != 1 || got.Zones[0].Name != "yard" || len(got.Zones[0].Polygon) != 3 {
		t.Fatalf("saved zones %s, want only yard, of 3 corners", gotJSON)
	}
	z := got.Zones[0].Polygon
	if c := z[0]; math.Abs(c.X-0.105) > 0.01 || math.Abs(c.Y-0.205) > 0.01 {
		t.Errorf("the zone's first corner is %v, want the cursor where the mouse last clicked (0.105, 0.205)", c)
	}
	for i, d := range [][2]float64{{0.1, 0}, {0.1, 0.3}} {
		if dx, dy := z[i+1].X-z[0].X, z[i+1].Y-z[0].Y; math.Abs(dx-d[0]) > 1e-6 || math.Abs(dy-d[1]) > 1e-6 {
			t.Errorf("the zone's corner %d lies %.4f, %.4f from its first, want %v", i+1, dx, dy, d)
		}
	}

	// What the page shows now (motion, the event list with a player and a
	// snapshot open, the editor with its areas) passes axe-core's WCAG 2
	// A/AA rules in both colour schemes.
	checkAxe(b, "dark")
	checkAxe(b, "light")

	// Delete the event that was not recorded.
	b.do("accept the confirmation", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	b.click(liveItem + " .delete")
	b.wait("the event gone from the list", `document.querySelector('`+liveItem+`') === null`)
	if _, err := rig.log.Get(live); !errors.Is(err, defs.ErrNotFound) {
		t.Errorf("the deleted event is still catalogued: %v", err)
	}
	if shot := os.Getenv("CAMREC_SCREENSHOT_MOTION"); shot != "" {
		b.do("reopen the mask editor", chromedp.Evaluate[chromedp.Void](`document.querySelector('`+card+`').scrollIntoView()`))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// lanTab serves rig's API on all interfaces with users and opens a tab
// that reaches it as http://camrec.lan:PORT (not a secure context), logged
// in as user.
func lanTab(t *testing.T, rig *motionRig, user, password string) (tab, func()) {
	t.Helper()
	chromium := testutil.RequireTool(t, "chromium")
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- rig.srv.Serve(ctx, ln, nil) }()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("host-resolver-rules", "MAP camrec.lan 127.0.0.1"))
	tctx, cancelTab := chromedp.NewContext(actx)
	tctx, cancel := context.WithTimeout(tctx, 60*time.Second)
	closeAll := func() {
		cancel()
		cancelTab() // before Serve stops, which waits for the page's streams
		cancelAlloc()
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	b := tab{t, tctx}
	base := "http://camrec.lan:" + port
	b.do("open the login form", chromedp.EmulateViewport(1000, 900), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#username")))
	if evalJS[bool](b, `window.isSecureContext`) {
		closeAll()
		t.Fatalf("%s is a secure context: the test would not show the plain-HTTP case", base)
	}
	b.do("log in",
		chromedp.SetValue(chromedp.CSS("#username"), user),
		chromedp.SetValue(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#user")))
	return b, closeAll
}

func usersAuth(t *testing.T) *auth.Authenticator {
	t.Helper()
	var users []auth.User
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"alice", auth.RoleOperator}, {"bob", auth.RoleViewer}} {
		hash, err := bcrypt.GenerateFromPassword([]byte(u.name+"-pw"), auth.MinPasswordCost)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, auth.User{Name: u.name, PasswordHash: string(hash), Role: u.role})
	}
	a, err := auth.New(auth.Config{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestMotionPageOverPlainHTTPOnTheLAN: logged in with a password on
// http://camrec.lan:PORT/, an operator's Disarm, Save and Delete pass the
// cross-origin check and reach camrec.
func TestMotionPageOverPlainHTTPOnTheLAN(t *testing.T) {
	rig := newMotionRig(t, usersAuth(t))
	b, closeAll := lanTab(t, rig, "alice", "alice-pw")
	defer closeAll()
	recorded := fmt.Sprintf(`#motion-events li[data-id=%q]`, rig.recorded)
	b.wait("the armed indicator and the event", `document.querySelector('`+card+`')?.dataset.motion === 'armed' && document.querySelector('`+recorded+`') !== null`)

	b.click(card + " .motion-arm")
	testutil.Eventually(t, 20*time.Second, "Disarm to reach camrec", func() bool { return rig.motion.armCalls() == "false" })
	// The card shows the answer (Follow schedule appears: the layout moves)
	// before the next click is aimed.
	b.wait("the card to show the disarm", `(() => { const c = document.querySelector('`+card+`');
		return c.dataset.motion === 'disarmed' && !c.querySelector('.motion-follow').hidden; })()`)

	b.click(card + " .motion-editor summary")
	b.wait("the zone door in the editor", `document.querySelector('`+card+` .areas-list').textContent.includes('Zone door')`)
	b.click(card + ` .areas-list li:first-child button`)
	b.click(card + " .areas-save")
	testutil.Eventually(t, 20*time.Second, "Save to reach camrec", func() bool {
		a, n := rig.motion.lastAreas()
		return n == 1 && a.Masks != nil && len(a.Masks) == 0 && a.Zones != nil && len(a.Zones) == 0
	})

	b.do("accept the confirmation", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	b.click(recorded + " .delete")
	b.wait("the event gone from the list", `document.querySelector('`+recorded+`') === null`)
	if _, err := rig.log.Get(rig.recorded); !errors.Is(err, defs.ErrNotFound) {
		t.Errorf("the deleted event is still catalogued: %v", err)
	}
}

// TestMotionPageViewer: a viewer sees the motion state, the events and the
// masks and zones, and no control: no Arm, no Delete, no drawing.
func TestMotionPageViewer(t *testing.T) {
	rig := newMotionRig(t, usersAuth(t))
	b, closeAll := lanTab(t, rig, "bob", "bob-pw")
	defer closeAll()
	recorded := fmt.Sprintf(`#motion-events li[data-id=%q]`, rig.recorded)
	b.wait("the indicator and the event with its snapshot", `(() => { const li = document.querySelector('`+recorded+`');
		return document.querySelector('`+card+`')?.dataset.motion === 'armed' && li && li.querySelector('img.ev-snap').naturalWidth > 0; })()`)
	b.click(card + " .motion-editor summary")
	b.wait("the zone door over the preview", `document.querySelectorAll('`+card+` svg.areas polygon.zone').length === 1`)
	visible := evalJS[[]string](b, `[...document.querySelectorAll('`+card+` .motion-arm, `+card+` .motion-follow, `+card+` .editor-draw, `+card+` .editor-actions, `+card+` .areas-list button, #motion-events .delete')]
		.filter(e => e.getClientRects().length > 0).map(e => e.className)`)
	if len(visible) > 0 {
		t.Errorf("a viewer sees controls: %q", visible)
	}
	svg := evalJS[[]string](b, `(() => { const s = document.querySelector('`+card+` svg.areas'); return [s.getAttribute('role'), s.getAttribute('tabindex')]; })()`)
	if !slices.Equal(svg, []string{"img", "-1"}) {
		t.Errorf("a viewer's drawing area has role and tabindex %q, want an image out of the tab order", svg)
	}
	// A click on the preview draws nothing.
	b.clickPicture(0.5, 0.5)
	if n := evalJS[int](b, `document.querySelectorAll('`+card+` svg.areas circle').length`); n != 0 {
		t.Errorf("a viewer's click drew %d corners", n)
	}
	checkAxe(b, "dark")
	checkAxe(b, "light")
}

// checkAxe runs axe-core's WCAG 2 A/AA rules on the page in the colour
// scheme, as test/e2e's TestPageAccessibility does on the page without
// motion: axe.min.js from $CAMREC_AXE or where make test-deps puts it;
// missing, the check fails when CI is set and is skipped otherwise.
func checkAxe(b tab, scheme string) {
	b.t.Helper()
	path := os.Getenv("CAMREC_AXE")
	if path == "" {
		home, _ := os.UserHomeDir()
		path = filepath.Join(home, ".cache", "camrec", "npm", "node_modules", "axe-core", "axe.min.js")
	}
	axe, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("CI") != "" {
			b.t.Fatalf("axe-core is required in CI (make test-deps installs it): %v", err)
		}
		b.t.Logf("axe-core not installed, no accessibility check: %v", err)
		return
	}
	media := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, media); err != nil {
		b.t.Fatalf("emulate %s mode: %v", scheme, err)
	}
	b.wait("the colours to settle", `matchMedia('(prefers-color-scheme: `+scheme+`)').matches && document.getAnimations().every(a => !(a instanceof CSSTransition))`)
	if !evalJS[bool](b, `typeof axe === 'object'`) {
		b.do("inject axe-core", chromedp.Evaluate[chromedp.Void](string(axe)))
	}
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`axe.run(document, {
		runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']},
		resultTypes: ['violations'],
	}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, help: v.help,
		nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary.replace(/\n/g, ' '))}))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("run axe-core: %v", err)
	}
	var violations []struct {
		ID, Help string
		Nodes    []string
	}
	if err := json.Unmarshal([]byte(out), &violations); err != nil {
		b.t.Fatalf("axe-core's result: %v", err)
	}
	b.t.Logf("axe-core, %s mode: %d WCAG 2 A/AA rules violated", scheme, len(violations))
	for _, v := range violations {
		b.t.Errorf("%s mode: %s: %s\n  %s", scheme, v.ID, v.Help, strings.Join(v.Nodes, "\n  "))
	}
}
