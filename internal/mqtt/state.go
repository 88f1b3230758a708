package mqtt

import (
	"cmp"
	"encoding/json"
	"math"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/pipeline"
)

// cameraStates are the values of <prefix>/<cam>/state.
var cameraStates = []string{pipeline.StateStarting, pipeline.StateStreaming, pipeline.StateStalled,
	pipeline.StateDisconnected, pipeline.StateError}

// attributes is the JSON of <prefix>/<cam>/attributes: what Home
// Assistant shows beside the entities, and what the sensors read.
type attributes struct {
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// FPS is the measured rate, to 0.1; null until the camera's rate was
	// first measured (Home Assistant renders null as "None": the frame
	// rate sensor reads unknown, not a 0 fps that nothing measured).
	FPS            *float64 `json:"fps"`
	FPSTarget      float64  `json:"fps_target"`
	Clients        int      `json:"clients"` // preview clients
	Recording      bool     `json:"recording"`
	RecordingID    string   `json:"recording_id,omitempty"`
	RecordingState string   `json:"recording_state,omitempty"`
	RecordingError string   `json:"recording_error,omitempty"`
	DiskFreeBytes  int64    `json:"disk_free_bytes"`
}

// publishMode says which of the state topics state publishes.
type publishMode int

const (
	// publishAll: every topic (a new connection, Home Assistant back
	// online, a command's outcome).
	publishAll publishMode = iota
	// publishChanged: every topic whose payload changed (an event, the
	// periodic refresh).
	publishChanged
	// publishWatch: the state topics that changed, and the attributes
	// when a measurement changed enough (watchDue), at most once per
	// attrMinInterval per camera.
	publishWatch
)

const (
	// fpsChange is the change of the measured rate, relative to the
	// larger of the two, that is worth publishing between refreshes: 30
	// to 27 fps is, 30 to 29 (the jitter of a one-second window) is not.
	fpsChange = 0.10
	// attrMinInterval is the least time between two publishes of a
	// camera's attributes that a measurement asks for: a rate that
	// swings never sends more than one message per 5 s and camera.
	attrMinInterval = 5 * time.Second
)

// watchDue reports whether the watch publishes a camera's attributes cur,
// last published as prev at lastAt: at once for the camera's first
// measured rate; else when the rate moved by fpsChange or more, the
// preview clients or anything but the free disk changed, and the last
// publish is attrMinInterval old. The free disk and small moves of the
// rate wait for the periodic refresh.
func watchDue(prev, cur attributes, lastAt, now time.Time) bool {
	if prev.FPS == nil && cur.FPS != nil {
		return true
	}
	return changedEnough(prev, cur) && now.Sub(lastAt) >= attrMinInterval
}

func changedEnough(prev, cur attributes) bool {
	if (prev.FPS == nil) != (cur.FPS == nil) {
		return true
	}
	if prev.FPS != nil {
		a, b := *prev.FPS, *cur.FPS
		if math.Abs(a-b) >= fpsChange*max(a, b) && a != b {
			return true
		}
	}
	prev.FPS, cur.FPS = nil, nil
	prev.DiskFreeBytes, cur.DiskFreeBytes = 0, 0
	return prev != cur
}

// state publishes the state, recording and attributes topics of every
// camera, and those of its motion detection, as mode says. It returns
// the first error.
func (c *conn) state(mode publishMode) error {
	b := c.b
	var free int64
	if b.cfg.DiskFree != nil {
		free, _, _ = b.cfg.DiskFree(b.cfg.RecordDir) // 0 when unknown
	}
	now := time.Now()
	var first error
	for _, name := range b.names {
		cam := b.cams[name]
		st := cam.View.Status()
		if st.FPSMeasured > 0 {
			b.measured[name] = true
		}
		a := attributes{State: st.State, Error: st.Error, FPSTarget: st.FPSTarget, Clients: st.Clients, DiskFreeBytes: free}
		if b.measured[name] {
			fps := defs.RoundTo(st.FPSMeasured, 1)
			a.FPS = &fps
		}
		if cam.Recorder != nil {
			r := cam.Recorder.Status()
			a.Recording, a.RecordingID, a.RecordingState, a.RecordingError = r.Active, r.ID, r.State, r.Error
		}
		rec := payloadOff
		if a.Recording {
			rec = payloadOn
		}
		attrs, err := json.Marshal(a)
		if err != nil {
			return err
		}
		attrTopic := b.topics.camera(name, "attributes")
		prev, published := c.attrs[name]
		pairs := [][2]string{
			{b.topics.camera(name, "state"), st.State},
			{b.topics.camera(name, "recording"), rec},
			{attrTopic, string(attrs)},
		}
		if mo, ms := motionOf(cam); mo != nil {
			c.rezone(name, zoneNames(ms))
			pairs = append(pairs, b.motionTopics(name, motionView(ms, c.ended[name]))...)
			if err := c.motionScore(name, ms.Score, mode, now); err != nil {
				first = cmp.Or(first, err)
			}
		}
		for _, m := range pairs {
			switch {
			case mode == publishAll:
			case c.last[m[0]] == m[1]:
				continue
			case mode == publishWatch && m[0] == attrTopic && published && !watchDue(prev, a, c.attrsAt[name], now):
				continue
			}
			if err := c.publish(m[0], true, []byte(m[1])); err != nil {
				first = cmp.Or(first, err)
				continue
			}
			c.last[m[0]] = m[1]
			if m[0] == attrTopic {
				c.attrs[name], c.attrsAt[name] = a, now
			}
		}
	}
	return first
}

// jsonString is v as JSON.
func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// publishJSON publishes v as JSON.
func (c *conn) publishJSON(topic string, retained bool, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.publish(topic, retained, b)
}
