package e2e

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The hooks and the webhook get a recording's file once it is final: after
// the remux that turns the fragmented MP4 camrec records into the plain
// MP4 that stays on disk and that the API serves.

// hookScript writes an executable shell script into dir and returns its
// path.
func hookScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nset -e\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// mp4Boxes lists the top-level box types of the MP4 file at path.
func mp4Boxes(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var boxes []string
	for off := uint64(0); off+8 <= uint64(len(b)); {
		size, typ := uint64(binary.BigEndian.Uint32(b[off:])), string(b[off+4:off+8])
		if size == 1 && off+16 <= uint64(len(b)) {
			size = binary.BigEndian.Uint64(b[off+8:])
		}
		if size < 8 {
			return append(boxes, typ+"(bad)")
		}
		boxes = append(boxes, typ)
		off += size
	}
	return boxes
}

// plainMP4 reports whether boxes are a plain MP4's, its index first: what
// the remux makes (a recording's fragmented form has moof boxes).
func plainMP4(boxes []string) bool {
	moov, mdat := slices.Index(boxes, "moov"), slices.Index(boxes, "mdat")
	return moov >= 0 && mdat > moov && !slices.Contains(boxes, "moof")
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sha256Served downloads a recording's file from the API and returns its
// sha256 and size.
func (d *Daemon) sha256Served(t *testing.T, fileURL string) (string, int64) {
	t.Helper()
	resp, err := apiClient.Get(d.URL + fileURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", fileURL, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// countLog counts the lines of camrec's log that match re.
func (d *Daemon) countLog(re *regexp.Regexp) int { return len(re.FindAllString(d.Log(), -1)) }

// awaitEndHooks waits until every file camera cam finished has had its
// on_recording_end hook run, and returns how many files that is.
func (d *Daemon) awaitEndHooks(t *testing.T, cam string) int {
	t.Helper()
	stopped := regexp.MustCompile(`msg="recording stopped" camera=` + cam + ` `)
	ran := regexp.MustCompile(`msg="hook ran" camera=` + cam + ` hook=on_recording_end `)
	var n int
	waitFor(t, 60*time.Second, cam+"'s end hooks to have run", func() bool {
		n = d.countLog(stopped)
		return n > 0 && d.countLog(ran) == n
	})
	return n
}

// TestEndHooksGetTheFinalFile: two cameras record MP4 in 2 s segments;
// one's on_recording_end hook copies each file away, the other's moves it
// away (Motion's usual on_movie_end). Each copy is the plain MP4 the API
// serves, byte for byte, and the webhook's event names its final size; the
// moved files are whole plain MP4s, the remux never misses them, and the
// catalogue no longer lists them (nor serves them) once they are gone.
func TestEndHooksGetTheFinalFile(t *testing.T) {
	requireTool(t, "ffmpeg")
	dir := t.TempDir()
	copies, moved := filepath.Join(dir, "copies"), filepath.Join(dir, "moved")
	for _, d := range []string{copies, moved} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Each hook writes under a temporary name and renames, so that a file
	// seen under its final name is whole.
	copyHook := hookScript(t, dir, "copy.sh", `cp "$CAMREC_FILE" "`+copies+`/.tmp-$CAMREC_RECORDING_ID"
mv "`+copies+`/.tmp-$CAMREC_RECORDING_ID" "`+copies+`/$CAMREC_RECORDING_ID"
`)
	moveHook := hookScript(t, dir, "move.sh", `mv "$CAMREC_FILE" "`+moved+`/$CAMREC_RECORDING_ID"
`)

	type posted struct {
		Type        string `json:"type"`
		Camera      string `json:"camera"`
		RecordingID string `json:"recording_id"`
		Bytes       int64  `json:"bytes"`
	}
	var (
		mu     sync.Mutex
		bodies []posted
	)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p posted
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, p)
		mu.Unlock()
	}))
	t.Cleanup(web.Close)

	cfg := filepath.Join(dir, "camrec.yaml")
	if err := os.WriteFile(cfg, []byte(`webhook_url: `+web.URL+`/camrec
webhook_events: [segment_closed, recording_stopped, recording_failed]
cameras:
  - name: copier
    device: "test:"
    size: 320x240
    segment: 2s
    on_recording_end: `+copyHook+`
  - name: mover
    device: "test:"
    size: 320x240
    segment: 2s
    on_recording_end: `+moveHook+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-config", cfg)
	for _, cam := range []string{"copier", "mover"} {
		waitFor(t, 20*time.Second, cam+" streaming", func() bool { return d.camStatus(t, cam).State == "streaming" })
	}
	for _, cam := range []string{"copier", "mover"} {
		if code, b := d.do(t, "PUT", "/api/v1/cameras/"+cam+"/recording", `{"active": true}`, nil); code != 200 {
			t.Fatalf("start %s: %d %s", cam, code, b)
		}
	}
	// At least two segments: wait for the frames rather than the time.
	for _, cam := range []string{"copier", "mover"} {
		waitFor(t, 30*time.Second, cam+" to record 5 s", func() bool { return d.camStatus(t, cam).Recording.Frames >= 150 })
	}
	for _, cam := range []string{"copier", "mover"} {
		if code, b := d.do(t, "PUT", "/api/v1/cameras/"+cam+"/recording", `{"active": false}`, nil); code != 200 {
			t.Fatalf("stop %s: %d %s", cam, code, b)
		}
	}
	for _, cam := range []string{"copier", "mover"} {
		d.awaitFinished(t, cam, cred{})
	}
	nCopied, nMoved := d.awaitEndHooks(t, "copier"), d.awaitEndHooks(t, "mover")

	// The copies: each the plain MP4 that the API serves, byte for byte.
	var list []recording
	d.do(t, "GET", "/api/v1/recordings?camera=copier", "", &list)
	if len(list) != nCopied || len(list) < 2 {
		t.Fatalf("copier: %d recordings listed, %d files finished; want the same, at least 2", len(list), nCopied)
	}
	sizes := map[string]int64{}
	for _, rec := range list {
		c := filepath.Join(copies, rec.ID)
		boxes := mp4Boxes(t, c)
		served, n := d.sha256Served(t, rec.FileURL)
		if got := sha256File(t, c); got != served || !plainMP4(boxes) || rec.State != "complete" {
			t.Errorf("%s: the hook's copy (sha256 %.12s, boxes %v) is not the file served (sha256 %.12s, %d bytes, %s)",
				rec.ID, got, boxes, served, n, rec.State)
		}
		p := ffprobe(t, c)
		if p.Codec != "h264" || math.Abs(p.Duration-rec.DurationS) > 0.1 || p.Errors != "" {
			t.Errorf("%s: the copy plays as %+v; the catalogue says %.3f s", rec.ID, p, rec.DurationS)
		}
		sizes[rec.ID] = n
	}

	// The moved files: whole plain MP4s, the recordings gone from the
	// catalogue, no remux that lost its file.
	entries, err := os.ReadDir(moved)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != nMoved {
		t.Errorf("%d files moved, %d finished", len(entries), nMoved)
	}
	for _, e := range entries {
		path := filepath.Join(moved, e.Name())
		boxes := mp4Boxes(t, path)
		p := ffprobe(t, path)
		if !plainMP4(boxes) || p.Codec != "h264" || p.Duration < 0.9 || p.Errors != "" {
			t.Errorf("moved %s: boxes %v, %+v; want a plain MP4 that plays", e.Name(), boxes, p)
		}
		if code, _ := d.do(t, "GET", "/api/v1/recordings/"+e.Name(), "", nil); code != http.StatusNotFound {
			t.Errorf("GET the moved recording %s: %d, want 404", e.Name(), code)
		}
		if _, err := os.Lstat(filepath.Join(d.RecordDir, "mover", "."+e.Name()+".json")); err == nil {
			t.Errorf("the moved recording's sidecar is left behind")
		}
	}
	d.do(t, "GET", "/api/v1/recordings?camera=mover", "", &list)
	if len(list) != 0 {
		t.Errorf("the catalogue still lists moved recordings: %+v", list)
	}
	for _, bad := range []string{"remux recording failed", "keeping the original file"} {
		if strings.Contains(d.Log(), bad) {
			t.Errorf("camrec logged %q", bad)
		}
	}

	// The webhook: each copier file's event carries its final size.
	waitFor(t, 30*time.Second, "the webhook's events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) == nCopied+nMoved
	})
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bodies {
		if want, ok := sizes[b.RecordingID]; b.Camera == "copier" && (!ok || b.Bytes != want) {
			t.Errorf("webhook: %+v; want the final size %d", b, want)
		}
	}
}

// TestEndHookAtShutdownGetsTheFinalFile: camrec stopped (SIGTERM) while it
// records: the last file is finished, remuxed, and its hook still runs
// with it final: the hook's copy is the plain MP4 left on disk.
func TestEndHookAtShutdownGetsTheFinalFile(t *testing.T) {
	requireTool(t, "ffmpeg")
	dir := t.TempDir()
	copyHook := hookScript(t, dir, "copy.sh", `cp "$CAMREC_FILE" "`+dir+`/.tmp-copy"
mv "`+dir+`/.tmp-copy" "`+dir+`/copy.mp4"
`)
	cfg := filepath.Join(dir, "camrec.yaml")
	if err := os.WriteFile(cfg, []byte(`cameras:
  - name: cam0
    device: "test:"
    size: 320x240
    on_recording_end: `+copyHook+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-config", cfg)
	waitStreaming(t, d)
	var st recStatus
	if code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active": true}`, &st); code != 200 {
		t.Fatalf("start: %d %s", code, b)
	}
	waitFor(t, 30*time.Second, "60 frames recorded", func() bool { return d.camStatus(t, "cam0").Recording.Frames >= 60 })
	d.Signal(syscall.SIGTERM)
	if code := d.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if !regexp.MustCompile(`msg="hook ran" camera=cam0 hook=on_recording_end .*event=recording_stopped`).MatchString(d.Log()) {
		t.Fatalf("the end hook did not run at shutdown:\n%s", d.Log())
	}
	file := filepath.Join(d.RecordDir, "cam0", st.ID)
	copied := filepath.Join(dir, "copy.mp4")
	boxes := mp4Boxes(t, copied)
	if sha256File(t, copied) != sha256File(t, file) || !plainMP4(boxes) {
		t.Errorf("the hook's copy (boxes %v) is not the plain MP4 left on disk (boxes %v)", boxes, mp4Boxes(t, file))
	}
	if p := ffprobe(t, copied); p.Codec != "h264" || p.Frames < 55 || p.Errors != "" {
		t.Errorf("the copy plays as %+v", p)
	}
}
