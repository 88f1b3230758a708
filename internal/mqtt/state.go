package mqtt

import (
	"cmp"
	"encoding/json"

	"github.com/camrec/camrec/pipeline"
)

// cameraStates are the values of <prefix>/<cam>/state.
var cameraStates = []string{pipeline.StateStarting, pipeline.StateStreaming, pipeline.StateStalled,
	pipeline.StateDisconnected, pipeline.StateError}

// attributes is the JSON of <prefix>/<cam>/attributes: what Home
// Assistant shows beside the entities, and what the sensors read.
type attributes struct {
	State          string  `json:"state"`
	Error          string  `json:"error,omitempty"`
	FPS            float64 `json:"fps"` // measured, to 0.1
	FPSTarget      float64 `json:"fps_target"`
	Clients        int     `json:"clients"` // preview clients
	Recording      bool    `json:"recording"`
	RecordingID    string  `json:"recording_id,omitempty"`
	RecordingState string  `json:"recording_state,omitempty"`
	RecordingError string  `json:"recording_error,omitempty"`
	DiskFreeBytes  int64   `json:"disk_free_bytes"`
}

// state publishes every camera's state, recording and attributes topics
// that changed since they were last published on this connection (all of
// them when force). It returns the first error.
func (c *conn) state(force bool) error {
	b := c.b
	var free int64
	if b.cfg.DiskFree != nil {
		free, _, _ = b.cfg.DiskFree(b.cfg.RecordDir) // 0 when unknown
	}
	var first error
	for _, name := range b.names {
		cam := b.cams[name]
		st := cam.View.Status()
		a := attributes{State: st.State, Error: st.Error, FPS: pipeline.RoundTo(st.FPSMeasured, 1),
			FPSTarget: st.FPSTarget, Clients: st.Clients, DiskFreeBytes: free}
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
		for _, m := range [][2]string{
			{b.topics.camera(name, "state"), st.State},
			{b.topics.camera(name, "recording"), rec},
			{b.topics.camera(name, "attributes"), string(attrs)},
		} {
			if !force && c.last[m[0]] == m[1] {
				continue
			}
			if err := c.publish(m[0], true, []byte(m[1])); err != nil {
				first = cmp.Or(first, err)
				continue
			}
			c.last[m[0]] = m[1]
		}
	}
	return first
}

// publishJSON publishes v as JSON.
func (c *conn) publishJSON(topic string, retained bool, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.publish(topic, retained, b)
}
