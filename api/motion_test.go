package api

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/pipeline/eventlog"
	"github.com/camrec/camrec/pipeline/store"
)

// TestMotionSettings: GET and PUT /api/v1/cameras/{cam}/motion arm,
// disarm, follow the schedule again and replace masks and zones on a real
// detection stage; bad bodies get 400 naming what is wrong and change
// nothing; a camera without detection answers 409.
func TestMotionSettings(t *testing.T) {
	e := newEnv(t, envConfig{cams: []camSpec{{name: "cam0", run: true, motion: true}, {name: "cam1", run: true}}})
	var m MotionStatusBody
	e.doJSON("GET", "/api/v1/cameras/cam0/motion", "", 200, &m)
	if !m.Armed || m.ArmedBy != "always" || m.Override != nil || len(m.Masks) != 0 {
		t.Errorf("initially %+v", m)
	}
	e.doJSON("PUT", "/api/v1/cameras/cam0/motion", `{"armed": false}`, 200, &m)
	if m.Armed || m.ArmedBy != "user" || m.Override == nil || *m.Override {
		t.Errorf("after disarming %+v", m)
	}
	e.doJSON("PUT", "/api/v1/cameras/cam0/motion", `{"armed": null}`, 200, &m)
	if !m.Armed || m.ArmedBy != "always" || m.Override != nil {
		t.Errorf("after following the schedule %+v", m)
	}
	e.doJSON("PUT", "/api/v1/cameras/cam0/motion",
		`{"masks": [[[0,0],[0.3,0],[0.3,0.2]]], "zones": [{"name": "door", "polygon": [[0.5,0.5],[1,0.5],[1,1]]}]}`, 200, &m)
	if len(m.Masks) != 1 || len(m.Zones) != 1 || m.Zones[0].Name != "door" || m.Masks[0][1].X != 0.3 {
		t.Errorf("after setting areas %+v", m)
	}
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"empty object", `{}`, 400, "nothing to change"},
		{"unknown field", `{"sensitivity": 3}`, 400, "sensitivity"},
		{"armed not a boolean", `{"armed": "yes"}`, 400, "armed"},
		{"short polygon", `{"masks": [[[0,0],[1,1]]]}`, 400, "masks[0]"},
		{"point outside", `{"masks": [[[0,0],[2,0],[1,1]]]}`, 400, "masks[0]"},
		{"point not a pair", `{"masks": [[[0,0,0],[1,0],[1,1]]]}`, 400, "point"},
		{"bad zone name", `{"zones": [{"name": "../x", "polygon": [[0,0],[1,0],[1,1]]}]}`, 400, "zones[0]"},
		{"too large", `{"masks": [[` + strings.Repeat(`[0.5,0.5],`, 30000) + `[0,0]]]}`, 413, "larger"},
	} {
		resp := e.do("PUT", "/api/v1/cameras/cam0/motion", tc.body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want %d naming %q", tc.name, resp.StatusCode, b, tc.code, tc.want)
		}
	}
	e.doJSON("GET", "/api/v1/cameras/cam0/motion", "", 200, &m)
	if len(m.Masks) != 1 || len(m.Zones) != 1 {
		t.Errorf("refused bodies changed the areas: %+v", m)
	}
	for _, method := range []string{"GET", "PUT"} {
		resp := e.do(method, "/api/v1/cameras/cam1/motion", `{"armed": true}`)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict {
			t.Errorf("%s on a camera without detection: %d, want 409", method, resp.StatusCode)
		}
	}
}

// TestMotionEventsAPI: the catalogue through the API: list (filtered by
// camera, time and limit, newest first), one event, its snapshot as the
// JPEG that was stored, delete (409 while open, 204 after), 404 for
// unknown ids and path tricks, 400 for bad filters.
func TestMotionEventsAPI(t *testing.T) {
	evlog, err := eventlog.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envConfig{cams: []camSpec{{name: "cam0", run: true, motion: true}, {name: "cam1", run: true, motion: true}}, motionEvents: evlog})
	t0 := time.Date(2026, 12, 8, 14, 20, 0, 0, time.UTC)
	jpg := encodeJPEG(t, 64, 48, true)
	idOld, _ := evlog.Begin("cam0", eventlog.Event{Start: t0, End: t0.Add(3 * time.Second), Peak: 2}, jpg)
	_ = evlog.Update(eventlog.Event{ID: idOld, Start: t0, End: t0.Add(3 * time.Second), Peak: 2}, nil)
	idNew, _ := evlog.Begin("cam0", eventlog.Event{Start: t0.Add(time.Hour), End: t0.Add(time.Hour), Peak: 1, Zones: []string{"door"}}, nil)
	_, _ = evlog.Begin("cam1", eventlog.Event{Start: t0, End: t0}, nil)

	var list MotionEventsBody
	e.doJSON("GET", "/api/v1/motion-events", "", 200, &list)
	if len(list.Events) != 3 {
		t.Fatalf("%d events, want 3", len(list.Events))
	}
	e.doJSON("GET", "/api/v1/motion-events?camera=cam0", "", 200, &list)
	if len(list.Events) != 2 || list.Events[0].ID != idNew || list.Events[1].ID != idOld {
		t.Fatalf("cam0's events %+v, want the newer first", list.Events)
	}
	if ev := list.Events[1]; ev.Active || ev.DurationS != 3 || ev.SnapshotURL == "" || ev.Zones == nil || ev.Recordings == nil {
		t.Errorf("the old event %+v", ev)
	}
	if ev := list.Events[0]; !ev.Active || ev.SnapshotURL != "" {
		t.Errorf("the open event without a snapshot %+v", ev)
	}
	e.doJSON("GET", "/api/v1/motion-events?camera=cam0&from=2026-12-08T14:30:00Z&limit=5", "", 200, &list)
	if len(list.Events) != 1 || list.Events[0].ID != idNew {
		t.Errorf("from 14:30: %+v", list.Events)
	}
	for _, q := range []string{"from=yesterday", "to=2026-12-08", "limit=0", "limit=1001", "limit=x"} {
		if code := e.code("GET", "/api/v1/motion-events?"+q, ""); code != 400 {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}
	if code := e.code("GET", "/api/v1/motion-events?camera=nope", ""); code != 404 {
		t.Errorf("unknown camera: %d", code)
	}

	resp := e.do("GET", "/api/v1/motion-events/"+idOld+"/snapshot.jpg", "")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || !bytes.Equal(b, jpg) {
		t.Errorf("snapshot: %d %s, %d bytes; want the stored JPEG", resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
	}
	if code := e.code("GET", "/api/v1/motion-events/"+idNew+"/snapshot.jpg", ""); code != 404 {
		t.Errorf("snapshot of an event without one: %d, want 404", code)
	}
	if code := e.code("DELETE", "/api/v1/motion-events/"+idNew, ""); code != 409 {
		t.Errorf("DELETE an open event: %d, want 409", code)
	}
	e.doJSON("DELETE", "/api/v1/motion-events/"+idOld, "", 204, nil)
	for _, path := range []string{"/api/v1/motion-events/" + idOld, "/api/v1/motion-events/" + idOld + "/snapshot.jpg",
		"/api/v1/motion-events/..%2f..%2fetc%2fpasswd", "/api/v1/motion-events/cam0-20261208T142000.000Z%00", "/api/v1/motion-events/.json"} {
		if code := e.code("GET", path, ""); code != 404 {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
}

// TestEventRecordings: an event lies in the recordings it overlaps, oldest
// first, at its offset from each one's start (0 when it began before).
func TestEventRecordings(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 14, 20, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ptr := func(t time.Time) *time.Time { return &t }
	recs := []store.Recording{ // newest first, as the catalogue lists
		{ID: "after", StartedAt: at(30), EndedAt: ptr(at(40))},
		{ID: "second", StartedAt: at(20), EndedAt: ptr(at(30))},
		{ID: "first", StartedAt: at(8), EndedAt: ptr(at(20))},
		{ID: "before", StartedAt: at(0), EndedAt: ptr(at(5))},
	}
	b := motionEventBody(eventlog.Event{ID: "e", Camera: "cam0", Start: at(10), End: at(25)}, recs)
	var got []string
	for _, r := range b.Recordings {
		got = append(got, r.ID)
	}
	if strings.Join(got, ",") != "first,second" || b.Recordings[0].OffsetS != 2 || b.Recordings[1].OffsetS != 0 {
		t.Errorf("recordings %+v, want first at 2 s, second at 0", b.Recordings)
	}
}

// code sends a request and returns its status, the body read and closed.
func (e *env) code(method, path, body string) int {
	e.t.Helper()
	resp := e.do(method, path, body)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
