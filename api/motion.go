package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/pipeline/detect"
	"github.com/camrec/camrec/pipeline/eventlog"
	"github.com/camrec/camrec/pipeline/store"
)

// MotionEvents is the catalogue of motion events (*eventlog.Log).
type MotionEvents interface {
	List(f eventlog.Filter) []eventlog.Event
	Get(id string) (eventlog.Event, error)
	Delete(id string) error
	SnapshotPath(id string) (string, error)
}

// noMotionEvents is the catalogue of a camrec without one: empty.
type noMotionEvents struct{}

func (noMotionEvents) List(eventlog.Filter) []eventlog.Event { return nil }
func (noMotionEvents) Get(id string) (eventlog.Event, error) {
	return eventlog.Event{}, fmt.Errorf("event %q: %w", id, defs.ErrNotFound)
}
func (noMotionEvents) Delete(id string) error {
	return fmt.Errorf("event %q: %w", id, defs.ErrNotFound)
}
func (noMotionEvents) SnapshotPath(id string) (string, error) {
	return "", fmt.Errorf("event %q: %w", id, defs.ErrNotFound)
}

// Limits of GET /api/v1/motion-events.
const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
	// maxMotionBody bounds PUT .../motion: masks and zones of a few
	// thousand points.
	maxMotionBody = 256 << 10
)

// MotionEventBody is one motion event: GET /api/v1/motion-events(/{id}).
type MotionEventBody struct {
	ID     string    `json:"id"`
	Camera string    `json:"camera"`
	Start  time.Time `json:"start"`
	// End is its last motion so far; Active while it goes on.
	End       time.Time `json:"end"`
	Active    bool      `json:"active"`
	DurationS float64   `json:"duration_s"`
	PeakScore float64   `json:"peak_score"`
	Zones     []string  `json:"zones"`
	// SnapshotURL is the JPEG of its frame with the most motion; "" when
	// it has none.
	SnapshotURL string `json:"snapshot_url"`
	// Recordings are the recordings the event lies in, oldest first.
	Recordings []EventRecordingBody `json:"recordings"`
}

// EventRecordingBody is a recording an event lies in.
type EventRecordingBody struct {
	ID string `json:"id"`
	// OffsetS is where the event starts in the recording, in seconds from
	// its start (0 when the event began before the recording).
	OffsetS float64 `json:"offset_s"`
	URL     string  `json:"url"`
}

// MotionEventsBody is the answer of GET /api/v1/motion-events.
type MotionEventsBody struct {
	Events []MotionEventBody `json:"events"`
}

// motionSetBody is the body of PUT /api/v1/cameras/{cam}/motion: each
// field absent leaves that setting as it is; "armed": null follows the
// schedule again.
type motionSetBody struct {
	Armed json.RawMessage   `json:"armed"`
	Masks *[]motion.Polygon `json:"masks"`
	Zones *[]motion.Zone    `json:"zones"`
}

// motionOf returns the camera's motion detection, or an error wrapping
// ErrConflict when it has none.
func motionOf(cam Camera) (MotionView, error) {
	if cam.Motion == nil || !cam.Motion.Status().Enabled {
		return nil, fmt.Errorf("camera %q: %w", cam.View.Name(), detect.ErrDisabled)
	}
	return cam.Motion, nil
}

func (s *Server) getMotion(c *gin.Context) {
	cam := cameraOf(c)
	m, err := motionOf(cam)
	if err != nil {
		abortWithError(c, s.log, err)
		return
	}
	c.JSON(http.StatusOK, motionStatusBody(m.Status()))
}

func (s *Server) setMotion(c *gin.Context) {
	cam := cameraOf(c)
	m, err := motionOf(cam)
	if err != nil {
		abortWithError(c, s.log, err)
		return
	}
	var body motionSetBody
	if err := decodeStrictN(c, &body, maxMotionBody); err != nil {
		abortWithError(c, s.log, err)
		return
	}
	if body.Armed == nil && body.Masks == nil && body.Zones == nil {
		abortWithError(c, s.log, fmt.Errorf(`%w: nothing to change: send "armed", "masks" or "zones"`, errBadRequest))
		return
	}
	if body.Armed != nil {
		var armed *bool
		if !bytes.Equal(bytes.TrimSpace(body.Armed), []byte("null")) {
			var v bool
			if err := json.Unmarshal(body.Armed, &v); err != nil {
				abortWithError(c, s.log, fmt.Errorf(`%w: "armed": want true, false or null`, errBadRequest))
				return
			}
			armed = &v
		}
		if err := m.SetArmed(armed); err != nil {
			abortWithError(c, s.log, fmt.Errorf("camera %q: arm: %w", cam.View.Name(), err))
			return
		}
	}
	if body.Masks != nil || body.Zones != nil {
		var masks []motion.Polygon
		var zones []motion.Zone
		if body.Masks != nil {
			masks = append([]motion.Polygon{}, *body.Masks...)
		}
		if body.Zones != nil {
			zones = append([]motion.Zone{}, *body.Zones...)
		}
		if err := m.SetAreas(masks, zones); err != nil {
			abortWithError(c, s.log, fmt.Errorf("camera %q: masks and zones: %w", cam.View.Name(), err))
			return
		}
	}
	c.JSON(http.StatusOK, motionStatusBody(m.Status()))
}

// listMotionEvents answers GET /api/v1/motion-events?camera=&from=&to=&limit=.
func (s *Server) listMotionEvents(c *gin.Context) {
	id := identity(c)
	var f eventlog.Filter
	if cam := c.Query("camera"); cam != "" {
		if _, ok := s.byName[cam]; !ok || !id.CanSee(cam) {
			abortWithError(c, s.log, fmt.Errorf("camera %q: %w", cam, defs.ErrNotFound))
			return
		}
		f.Cameras = []string{cam}
	} else {
		f.Cameras = []string{}
		for _, cam := range s.visibleCameras(c) {
			f.Cameras = append(f.Cameras, cam.View.Name())
		}
	}
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := c.Query(p.key); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				abortWithError(c, s.log, fmt.Errorf("%w: %s %q: want an RFC 3339 time, e.g. 2026-12-08T14:20:00Z", errBadRequest, p.key, v))
				return
			}
			*p.dst = t
		}
	}
	f.Limit = defaultEventLimit
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxEventLimit {
			abortWithError(c, s.log, fmt.Errorf("%w: limit %q: want 1 to %d", errBadRequest, v, maxEventLimit))
			return
		}
		f.Limit = n
	}
	out := MotionEventsBody{Events: []MotionEventBody{}}
	recs := map[string][]store.Recording{}
	for _, e := range s.motionEvents.List(f) {
		if _, ok := recs[e.Camera]; !ok {
			recs[e.Camera] = s.recordingsOf(e.Camera)
		}
		out.Events = append(out.Events, motionEventBody(e, recs[e.Camera]))
	}
	c.JSON(http.StatusOK, out)
}

// motionEvent resolves :id, answering 404 for an unknown event and for
// one of a camera the caller may not see.
func (s *Server) motionEvent(c *gin.Context) (eventlog.Event, bool) {
	e, err := s.motionEvents.Get(c.Param("id"))
	if err == nil && !identity(c).CanSee(e.Camera) {
		err = fmt.Errorf("event %q: %w", c.Param("id"), defs.ErrNotFound)
	}
	if err != nil {
		abortWithError(c, s.log, err)
		return e, false
	}
	return e, true
}

func (s *Server) getMotionEvent(c *gin.Context) {
	e, ok := s.motionEvent(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, motionEventBody(e, s.recordingsOf(e.Camera)))
}

func (s *Server) deleteMotionEvent(c *gin.Context) {
	e, ok := s.motionEvent(c)
	if !ok {
		return
	}
	if err := s.motionEvents.Delete(e.ID); err != nil {
		abortWithError(c, s.log, fmt.Errorf("delete: %w", err))
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) motionEventSnapshot(c *gin.Context) {
	e, ok := s.motionEvent(c)
	if !ok {
		return
	}
	path, err := s.motionEvents.SnapshotPath(e.ID)
	if err != nil {
		abortWithError(c, s.log, err)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("event %s: snapshot: %w", e.ID, defs.ErrNotFound)
		}
		abortWithError(c, s.log, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		abortWithError(c, s.log, fmt.Errorf("event %s: snapshot: %w", e.ID, err))
		return
	}
	c.Header("Content-Type", "image/jpeg")
	if e.Open {
		c.Header("Cache-Control", "no-store") // replaced as the event's peak grows
	} else {
		c.Header("Cache-Control", "private, max-age=86400")
	}
	http.ServeContent(c.Writer, c.Request, "", fi.ModTime(), f)
}

// recordingsOf lists camera's recordings (none without a catalogue).
func (s *Server) recordingsOf(camera string) []store.Recording {
	if s.catalog == nil {
		return nil
	}
	return s.catalog.List(camera)
}

// motionEventBody is e as the API shows it, with the recordings of its
// camera (any order) that it lies in.
func motionEventBody(e eventlog.Event, recs []store.Recording) MotionEventBody {
	b := MotionEventBody{ID: e.ID, Camera: e.Camera, Start: e.Start.UTC(), End: e.End.UTC(), Active: e.Open,
		DurationS: defs.RoundTo(e.Duration().Seconds(), 3), PeakScore: e.Peak, Zones: e.Zones,
		Recordings: []EventRecordingBody{}}
	if b.Zones == nil {
		b.Zones = []string{}
	}
	if e.Snapshot {
		b.SnapshotURL = detect.SnapshotURL(e.ID)
	}
	for i := len(recs) - 1; i >= 0; i-- { // the catalogue lists newest first
		r := recs[i]
		end := time.Now()
		if r.EndedAt != nil {
			end = *r.EndedAt
		}
		if r.StartedAt.After(e.End) || end.Before(e.Start) {
			continue
		}
		off := max(0, e.Start.Sub(r.StartedAt).Seconds())
		b.Recordings = append(b.Recordings, EventRecordingBody{ID: r.ID, OffsetS: defs.RoundTo(off, 3), URL: fileURL(r.ID)})
	}
	return b
}

// motionStatusBody is detect's status as the API shows it.
func motionStatusBody(m detect.Status) *MotionStatusBody {
	b := &MotionStatusBody{Armed: m.Armed, ArmedBy: m.ArmedBy, Override: m.Override, Active: m.Active,
		ActiveZones: m.ActiveZones, Score: defs.RoundTo(m.Score, 2), Events: m.Events,
		FramesAnalysed: m.FramesAnalysed, FramesSkipped: m.FramesSkipped, Error: m.Error,
		Masks: m.Masks, Zones: m.Zones}
	if b.ActiveZones == nil {
		b.ActiveZones = []string{}
	}
	if b.Masks == nil {
		b.Masks = []motion.Polygon{}
	}
	if b.Zones == nil {
		b.Zones = []motion.Zone{}
	}
	if !m.OverrideUntil.IsZero() {
		t := m.OverrideUntil.UTC()
		b.OverrideUntil = &t
	}
	if !m.LastEvent.IsZero() {
		t := m.LastEvent.UTC()
		b.LastEventAt = &t
	}
	if m.LastEventID != "" {
		id := m.LastEventID
		b.LastEventID = &id
	}
	return b
}
