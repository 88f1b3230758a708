package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseEvent is one Server-Sent Event as a client reads it.
type sseEvent struct {
	ID, Type string
	Data     struct {
		ID          uint64  `json:"id"`
		Type        string  `json:"type"`
		Camera      string  `json:"camera"`
		RecordingID string  `json:"recording_id"`
		FileURL     string  `json:"file_url"`
		DurationS   float64 `json:"duration_s"`
		Bytes       int64   `json:"bytes"`
		// Motion events.
		Time        time.Time `json:"time"`
		Score       float64   `json:"score"`
		Zones       []string  `json:"zones"`
		EventID     string    `json:"event_id"`
		SnapshotURL string    `json:"snapshot_url"`
	}
	// contractErr says how the event's data breaks api/openapi.json's
	// Event schema (nil when it does not); nextEvent fails the test on it.
	contractErr error
}

// openEvents connects to /api/v1/events (resuming after lastID if set,
// with credentials c) and returns the events as they come; they stop when
// the test ends.
func openEvents(t *testing.T, d *Daemon, lastID string, c ...cred) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", d.URL+"/api/v1/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	for _, c := range c {
		if c.header[0] != "" {
			req.Header.Set(c.header[0], c.header[1])
		}
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("GET /api/v1/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		var data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.Type != "" {
					if data != "" {
						_ = json.Unmarshal([]byte(data), &e.Data)
					}
					if e.Type != "events_lost" { // its data is {}, not an Event
						e.contractErr = contract.CheckSchema("Event", []byte(data))
					}
					out <- e
				}
				e, data = sseEvent{}, ""
			case strings.HasPrefix(line, "id: "):
				e.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				e.Type = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// nextEvent returns the next event of one of the types, skipping others.
func nextEvent(t *testing.T, ch <-chan sseEvent, types ...string) sseEvent {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("event stream ended waiting for %v", types)
			}
			if e.contractErr != nil {
				t.Fatalf("event %s (%s): %v", e.ID, e.Type, e.contractErr)
			}
			for _, typ := range types {
				if e.Type == typ {
					return e
				}
			}
		case <-deadline:
			t.Fatalf("no %v event within 30 s", types)
		}
	}
}

// TestEvents: a client of /api/v1/events sees recording_started then
// recording_stopped for a toggle, naming the recording and its file; a
// client that reconnects with Last-Event-ID gets what it missed from the
// backlog, and nothing twice.
func TestEvents(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startCamrec(t, "-device", "test:", "-container", "mkv", "-codec", "copy")
	waitStreaming(t, d)
	ch := openEvents(t, d, "")
	rec := record(t, d, "cam0", time.Second)

	started := nextEvent(t, ch, "recording_started", "recording_stopped")
	stopped := nextEvent(t, ch, "recording_stopped")
	if started.Type != "recording_started" || started.Data.RecordingID != rec.ID || started.Data.Camera != "cam0" {
		t.Errorf("first event %+v, want recording_started of %s", started, rec.ID)
	}
	if stopped.Data.RecordingID != rec.ID || stopped.Data.FileURL != rec.FileURL || stopped.Data.Bytes != rec.Bytes ||
		stopped.Data.DurationS < 0.9 || stopped.ID != strconv.FormatUint(stopped.Data.ID, 10) {
		t.Errorf("recording_stopped %+v, want %s with its file, size and duration (catalogue %+v)", stopped, rec.ID, rec)
	}

	// Resume after recording_started: the backlog gives recording_stopped
	// again, first, then nothing older.
	again := openEvents(t, d, started.ID)
	if e := nextEvent(t, again, "recording_stopped", "recording_started", "events_lost"); e.Type != "recording_stopped" || e.ID != stopped.ID {
		t.Errorf("after resuming from %s: %+v, want recording_stopped %s", started.ID, e, stopped.ID)
	}

	// A deletion through the API is an event too (pages showing the list
	// drop the item).
	if code, b := d.do(t, "DELETE", "/api/v1/recordings/"+rec.ID, "", nil); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	if e := nextEvent(t, ch, "recording_deleted"); e.Data.RecordingID != rec.ID || e.Data.Camera != "cam0" || e.Data.FileURL != "" {
		t.Errorf("recording_deleted %+v, want %s of cam0 without a file URL", e, rec.ID)
	}
}

// TestEventsFollowCameraLimits: a token limited to one camera gets that
// camera's events only; an operator gets both cameras'.
func TestEventsFollowCameraLimits(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startSecured(t)
	op := basicCred(operatorUser, operatorPass)
	for _, cam := range []string{"cam0", "garage"} {
		d.awaitStreaming(t, cam, op)
	}
	garageOnly := openEvents(t, d.Daemon, "", bearerCred("garage-only", d.GarageToken))
	all := openEvents(t, d.Daemon, "", op)
	cam0ID, garageID := recordBoth(t, d)
	seen := map[string]bool{}
	for range 2 {
		e := nextEvent(t, all, "recording_stopped")
		seen[e.Data.RecordingID] = true
	}
	if !seen[cam0ID] || !seen[garageID] {
		t.Errorf("the operator saw recordings stopped %v, want %s and %s", seen, cam0ID, garageID)
	}
	// The garage-only stream: garage's stop arrives, and nothing of cam0
	// came before it (cam0 was recorded first).
	for {
		e := nextEvent(t, garageOnly, "recording_started", "recording_stopped", "camera_state")
		if e.Data.Camera != "garage" {
			t.Fatalf("the garage-only token got %+v", e)
		}
		if e.Type == "recording_stopped" && e.Data.RecordingID == garageID {
			break
		}
	}
}

// TestDiskLowEvent: camrec started on a disk with less free space than
// disk_low says raises disk_low for its camera, with the bytes free.
func TestDiskLowEvent(t *testing.T) {
	dir := mountTmpfs(t, "size=4m")
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "camrec.yaml")
	if err := os.WriteFile(cfg, []byte("disk_low: 50%\ncameras:\n  - {name: garage, device: \"test:\", size: 320x240}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-config", cfg, "-record-dir", dir)
	// The watch looks at start, before this client is there: resume from
	// an old id to be given the backlog.
	e := nextEvent(t, openEvents(t, d, "1"), "disk_low")
	if e.Data.Camera != "garage" || e.Data.Bytes <= 0 || e.Data.Bytes > 1<<20 {
		t.Errorf("disk_low %+v, want garage with under 1 MiB free", e)
	}
	d.awaitLog(t, `msg="disk low"`)
}
