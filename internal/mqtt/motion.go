package mqtt

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/pipeline/detect"
)

// Motion is a camera's motion detection (*detect.Stage): its state, and
// arming by the user.
type Motion interface {
	Status() detect.Status
	// SetArmed sets the user's override: true or false until the
	// schedule's next change, nil to follow the schedule again.
	SetArmed(armed *bool) error
}

// EventSnapshots gives a motion event's snapshot JPEG by the event's ID
// (*eventlog.Log): the best frame so far while the event is open, the
// final one once it ended.
type EventSnapshots interface {
	Snapshot(id string) ([]byte, error)
}

// motionAttributes is the JSON of <prefix>/<cam>/motion_attributes: the
// attributes Home Assistant shows beside the motion sensor and the arm
// switch. Nothing in it changes by the frame (the score is left out), so
// it goes out only when something in it changed.
type motionAttributes struct {
	Armed   bool   `json:"armed"`
	ArmedBy string `json:"armed_by"` // always, schedule, user
	// Override is the user's arming (null: none), until OverrideUntil
	// (null: until changed).
	Override      *bool      `json:"override"`
	OverrideUntil *time.Time `json:"override_until"`
	Active        bool       `json:"active"`
	ActiveZones   []string   `json:"active_zones"`
	Zones         []string   `json:"zones"`
	Events        uint64     `json:"events"` // since camrec started
	LastEventID   string     `json:"last_event_id,omitempty"`
	LastEventAt   *time.Time `json:"last_event_at"`
	Error         string     `json:"error,omitempty"`
}

// motionOf returns the camera's motion detection, nil when it has none or
// it is not enabled, and its status.
func motionOf(cam Camera) (Motion, detect.Status) {
	if cam.Motion == nil {
		return nil, detect.Status{}
	}
	st := cam.Motion.Status()
	if !st.Enabled {
		return nil, st
	}
	return cam.Motion, st
}

// zoneNames are the names of the zones in use.
func zoneNames(st detect.Status) []string {
	names := make([]string, 0, len(st.Zones))
	for _, z := range st.Zones {
		names = append(names, z.Name)
	}
	return names
}

// motionView is what the motion topics of a camera say now. ended is the
// ID of the last event this connection saw end: the stage may still say
// it is open for up to a frame after its motion_ended (it publishes the
// event, then updates its state), and Home Assistant must not see the
// sensor go ON again after the event said it ended.
func motionView(st detect.Status, ended string) motionAttributes {
	a := motionAttributes{Armed: st.Armed, ArmedBy: st.ArmedBy, Override: st.Override, Active: st.Active,
		ActiveZones: st.ActiveZones, Zones: zoneNames(st), Events: st.Events, LastEventID: st.LastEventID, Error: st.Error}
	if a.Active && ended != "" && st.LastEventID == ended {
		a.Active, a.ActiveZones = false, nil
	}
	if !a.Active {
		a.ActiveZones = nil
	}
	if a.ActiveZones == nil {
		a.ActiveZones = []string{}
	}
	if a.Override != nil && !st.OverrideUntil.IsZero() {
		u := st.OverrideUntil
		a.OverrideUntil = &u
	}
	if !st.LastEvent.IsZero() {
		t := st.LastEvent
		a.LastEventAt = &t
	}
	return a
}

func onOff(on bool) string {
	if on {
		return payloadOn
	}
	return payloadOff
}

// motionTopics returns the motion topics of camera name and what they
// carry: the event (ON/OFF), each zone's, the arming and the attributes.
func (b *Bridge) motionTopics(name string, a motionAttributes) [][2]string {
	t := b.topics
	out := [][2]string{
		{t.camera(name, "motion"), onOff(a.Active)},
		{t.camera(name, "armed"), onOff(a.Armed)},
	}
	for _, z := range a.Zones {
		out = append(out, [2]string{t.zone(name, z), onOff(slices.Contains(a.ActiveZones, z))})
	}
	attrs, err := jsonString(a)
	if err != nil {
		panic(err) // strings, numbers, times and slices always marshal
	}
	return append(out, [2]string{t.camera(name, "motion_attributes"), attrs})
}

// motionEvent follows a motion event of cam: the end is remembered (see
// motionView) and the event's snapshot goes out on the image topic, the
// best frame so far at the start, the final one at the end.
func (c *conn) motionEvent(e events.Event) {
	if e.Type != events.MotionStarted && e.Type != events.MotionEnded {
		return
	}
	if m, _ := motionOf(c.b.cams[e.Camera]); m == nil {
		return
	}
	if e.Type == events.MotionEnded {
		c.ended[e.Camera] = e.EventID
	}
	c.publishEventSnapshot(e.Camera, e.EventID)
}

// publishEventSnapshot publishes event id's snapshot, retained, on cam's
// image topic.
func (c *conn) publishEventSnapshot(cam, id string) {
	snaps := c.b.cfg.EventSnapshots
	if snaps == nil || id == "" {
		return
	}
	jpeg, err := snaps.Snapshot(id)
	if err != nil || len(jpeg) == 0 {
		c.b.log.Debug("mqtt: no snapshot for the motion event", "camera", cam, "event", id, "error", err)
		return
	}
	if err := c.publish(c.b.topics.camera(cam, "motion_snapshot"), true, jpeg); err != nil {
		c.b.log.Debug("mqtt publish motion snapshot", "error", err)
	}
}

// setArmed arms (ON) or disarms (OFF) a camera's motion detection until
// its schedule's next change, or gives arming back to the schedule
// (SCHEDULE). Like every MQTT command it acts with the operator's rights.
func (c *conn) setArmed(cam, payload string) {
	var armed *bool
	switch payload {
	case payloadOn, payloadOff:
		v := payload == payloadOn
		armed = &v
	case payloadSchedule:
	default:
		c.b.log.Warn("mqtt arm command ignored: want ON, OFF or SCHEDULE", "camera", cam, "payload", truncate(payload, 16))
		return
	}
	m, _ := motionOf(c.b.cams[cam])
	if m == nil {
		c.b.log.Warn("mqtt arm command ignored: motion detection is not enabled for the camera", "camera", cam)
		return
	}
	c.b.log.Info("mqtt arm command", "camera", cam, "armed", strings.ToLower(payload))
	if err := m.SetArmed(armed); err != nil {
		c.b.log.Warn("mqtt arm command failed", "camera", cam, "armed", strings.ToLower(payload), "error", err)
	}
	_ = c.state(publishAll) // the switch shows the outcome, not the wish
}

// rezone brings the zone sensors of cam in line with its zones, changed
// at run time (the page's editor): configs for new zones, and removed
// zones' configs and states cleared.
func (c *conn) rezone(cam string, zones []string) {
	old, announced := c.zones[cam]
	if !announced || slices.Equal(old, zones) {
		return
	}
	c.zones[cam] = zones
	b := c.b
	b.log.Info("mqtt: the camera's motion zones changed", "camera", cam, "zones", zones)
	discovery := b.topics.discovery != ""
	if discovery {
		for _, d := range b.discovery(cam) {
			if err := c.publish(d.topic, true, d.payload); err != nil {
				b.log.Debug("mqtt publish discovery", "error", err)
			}
		}
	}
	for _, z := range old {
		if slices.Contains(zones, z) {
			continue
		}
		if discovery {
			_ = c.publish(b.topics.discoveryConfig("binary_sensor", cam, "zone_"+z), true, nil)
		}
		_ = c.publish(b.topics.zone(cam, z), true, nil)
		delete(c.last, b.topics.zone(cam, z))
	}
}

// scoreMinInterval is the least time between two messages of a camera's
// motion score (the last analysed frame's, changing by the frame): the
// score sensor is a sample for tuning the threshold, not a stream.
const scoreMinInterval = 5 * time.Second

// scoreDue reports whether the score cur (as published) goes out when
// prev went out at lastAt: when it changed, at most once per
// scoreMinInterval.
func scoreDue(prev, cur string, lastAt, now time.Time) bool {
	return prev != cur && now.Sub(lastAt) >= scoreMinInterval
}

// motionScore publishes cam's motion score (percent, to 0.1), always for
// publishAll, else as scoreDue says.
func (c *conn) motionScore(cam string, score float64, mode publishMode, now time.Time) error {
	topic := c.b.topics.camera(cam, "motion_score")
	v := strconv.FormatFloat(defs.RoundTo(score, 1), 'f', -1, 64)
	if mode != publishAll && !scoreDue(c.last[topic], v, c.scoreAt[cam], now) {
		return nil
	}
	if err := c.publish(topic, true, []byte(v)); err != nil {
		return err
	}
	c.last[topic], c.scoreAt[cam] = v, now
	return nil
}
