package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/detect"
)

// fakeView is a camera that streams and has no frame.
type fakeView struct{ name string }

func (v fakeView) Name() string { return v.name }
func (v fakeView) Status() pipeline.CameraStatus {
	return pipeline.CameraStatus{State: pipeline.StateStreaming}
}
func (v fakeView) Snapshot(context.Context) (*pipeline.Frame, error) {
	return nil, errors.New("no frame")
}

// fakeMotion is a motion detection whose status the test sets; SetArmed
// keeps its argument and applies it as the stage would (no schedule).
type fakeMotion struct {
	mu    sync.Mutex
	st    detect.Status
	calls []string // "true", "false", "nil"
}

func (m *fakeMotion) Status() detect.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	st.ActiveZones = slices.Clone(st.ActiveZones)
	return st
}

func (m *fakeMotion) SetArmed(armed *bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if armed == nil {
		m.calls = append(m.calls, "nil")
		m.st.Armed, m.st.ArmedBy, m.st.Override = true, "always", nil
		return nil
	}
	m.calls = append(m.calls, fmt.Sprint(*armed))
	v := *armed
	m.st.Armed, m.st.ArmedBy, m.st.Override = v, "user", &v
	return nil
}

func (m *fakeMotion) set(f func(*detect.Status)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.st)
}

func (m *fakeMotion) called() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func zones(names ...string) []motion.Zone {
	var z []motion.Zone
	for _, n := range names {
		z = append(z, motion.Zone{Name: n, Polygon: motion.Polygon{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}}})
	}
	return z
}

// fakeSnapshots serves one JPEG-looking payload per event ID.
type fakeSnapshots struct{}

func (fakeSnapshots) Snapshot(id string) ([]byte, error) {
	if id == "" || id == "missing" {
		return nil, errors.New("no such event")
	}
	return append([]byte{0xff, 0xd8}, []byte("snapshot of "+id)...), nil
}

func testBridge(t *testing.T, cams ...Camera) *Bridge {
	return New(Config{ClientID: "camrec-test", TopicPrefix: "camrec", DiscoveryPrefix: "homeassistant", Version: "v0"},
		cams, events.NewBus(1), testutil.Logger(t))
}

// TestMotionDiscovery: a camera with motion detection has, beside its
// usual entities, a motion binary_sensor, one per zone, an arm switch, a
// follow-schedule button and an image; a camera without it (or with it
// off) has none of them. Unique ids are <node>_<cam>_<what>.
func TestMotionDiscovery(t *testing.T) {
	on := &fakeMotion{st: detect.Status{Enabled: true, Zones: zones("road", "door")}}
	off := &fakeMotion{st: detect.Status{Enabled: false, Zones: zones("road")}}
	b := testBridge(t, Camera{View: fakeView{"front"}, Motion: on}, Camera{View: fakeView{"back"}, Motion: off}, Camera{View: fakeView{"side"}})
	configs := map[string]map[string]any{}
	for _, d := range b.discovery("front") {
		var c map[string]any
		if err := json.Unmarshal(d.payload, &c); err != nil {
			t.Fatal(err)
		}
		configs[d.topic] = c
	}
	if len(configs) != 7+7 {
		t.Errorf("%d configs for a camera with motion and two zones, want 14", len(configs))
	}
	want := map[string]map[string]any{
		"homeassistant/binary_sensor/camrec-test/front_motion/config": {
			"name": "front motion", "unique_id": "camrec-test_front_motion", "device_class": "motion",
			"state_topic": "camrec/front/motion", "json_attributes_topic": "camrec/front/motion_attributes"},
		"homeassistant/binary_sensor/camrec-test/front_zone_road/config": {
			"name": "front motion in road", "unique_id": "camrec-test_front_zone_road", "device_class": "motion",
			"state_topic": "camrec/front/zone/road"},
		"homeassistant/binary_sensor/camrec-test/front_zone_door/config": {
			"unique_id": "camrec-test_front_zone_door", "state_topic": "camrec/front/zone/door"},
		"homeassistant/switch/camrec-test/front_armed/config": {
			"name": "front motion armed", "unique_id": "camrec-test_front_armed", "command_topic": "camrec/front/armed/set",
			"state_topic": "camrec/front/armed", "payload_on": "ON", "payload_off": "OFF",
			"json_attributes_topic": "camrec/front/motion_attributes"},
		"homeassistant/button/camrec-test/front_follow_schedule/config": {
			"name": "front motion follow schedule", "unique_id": "camrec-test_front_follow_schedule",
			"command_topic": "camrec/front/armed/set", "payload_press": "SCHEDULE"},
		"homeassistant/image/camrec-test/front_motion_snapshot/config": {
			"name": "front last motion", "unique_id": "camrec-test_front_motion_snapshot",
			"image_topic": "camrec/front/motion_snapshot", "content_type": "image/jpeg"},
		"homeassistant/sensor/camrec-test/front_motion_score/config": {
			"name": "front motion score", "unique_id": "camrec-test_front_motion_score", "state_topic": "camrec/front/motion_score",
			"unit_of_measurement": "%", "state_class": "measurement", "entity_category": "diagnostic"},
	}
	for topic, fields := range want {
		c, ok := configs[topic]
		if !ok {
			t.Errorf("no %s", topic)
			continue
		}
		for k, v := range fields {
			if c[k] != v {
				t.Errorf("%s: %s = %v, want %v", topic, k, c[k], v)
			}
		}
		if c["availability_topic"] != "camrec/status" || c["device"] == nil {
			t.Errorf("%s: availability %v, device %v", topic, c["availability_topic"], c["device"])
		}
	}
	for _, cam := range []string{"back", "side"} {
		if n := len(b.discovery(cam)); n != 7 {
			t.Errorf("camera %s without motion detection has %d configs, want the 7 of any camera", cam, n)
		}
	}
}

// TestMotionView: what the motion topics say of a status; an event the
// connection saw end is off even while the stage still says it is open.
func TestMotionView(t *testing.T) {
	yes := true
	until := time.Date(2026, 12, 8, 17, 30, 0, 0, time.UTC)
	st := detect.Status{Enabled: true, Armed: true, ArmedBy: "user", Override: &yes, OverrideUntil: until,
		Active: true, ActiveZones: []string{"road"}, Zones: zones("road", "door"), Events: 3, LastEventID: "e3",
		LastEvent: until.Add(-time.Hour)}
	b := testBridge(t)
	got := map[string]string{}
	for _, p := range b.motionTopics("front", motionView(st, "e2")) {
		got[p[0]] = p[1]
	}
	for topic, want := range map[string]string{
		"camrec/front/motion": "ON", "camrec/front/armed": "ON", "camrec/front/zone/road": "ON", "camrec/front/zone/door": "OFF",
		"camrec/front/motion_attributes": `{"armed":true,"armed_by":"user","override":true,"override_until":"2026-12-08T17:30:00Z",` +
			`"active":true,"active_zones":["road"],"zones":["road","door"],"events":3,"last_event_id":"e3","last_event_at":"2026-12-08T16:30:00Z"}`,
	} {
		if got[topic] != want {
			t.Errorf("%s = %s, want %s", topic, got[topic], want)
		}
	}
	ended := motionView(st, "e3")
	if ended.Active || len(ended.ActiveZones) != 0 || ended.ActiveZones == nil {
		t.Errorf("event e3 seen ending, still open: %+v", ended)
	}
	quiet := motionView(detect.Status{Enabled: true, Armed: false, ArmedBy: "schedule"}, "")
	a, _ := jsonString(quiet)
	if want := `{"armed":false,"armed_by":"schedule","override":null,"override_until":null,"active":false,"active_zones":[],"zones":[],"events":0,"last_event_at":null}`; a != want {
		t.Errorf("attributes of a quiet camera %s, want %s", a, want)
	}
}

// TestScoreDue: the motion score goes out when it changed, at most once
// per 5 s; a score that changes with every frame for a minute makes 12
// messages.
func TestScoreDue(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		prev, cur string
		after     time.Duration
		want      bool
	}{
		{"0", "0", time.Minute, false},
		{"0", "2.5", 5 * time.Second, true},
		{"0", "2.5", 4 * time.Second, false},
		{"2.5", "0", time.Hour, true},
	} {
		if got := scoreDue(tc.prev, tc.cur, t0, t0.Add(tc.after)); got != tc.want {
			t.Errorf("%s -> %s after %v: due %v, want %v", tc.prev, tc.cur, tc.after, got, tc.want)
		}
	}
	prev, last, sent := "0", t0, 0
	for i := 1; i <= 60; i++ {
		cur := fmt.Sprint(i % 7)
		if now := t0.Add(time.Duration(i) * time.Second); scoreDue(prev, cur, last, now) {
			prev, last = cur, now
			sent++
		}
	}
	if sent != 12 {
		t.Errorf("%d score messages in a minute, want 12", sent)
	}
}

// collector keeps the messages of a test client.
type collector struct {
	mu  sync.Mutex
	got []message
}

func (c *collector) all(topic string) []message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []message
	for _, m := range c.got {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

func (c *collector) last(topic string) (message, bool) {
	all := c.all(topic)
	if len(all) == 0 {
		return message{}, false
	}
	return all[len(all)-1], true
}

func (c *collector) await(t *testing.T, topic, want string) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, topic+" = "+want, func() bool {
		m, ok := c.last(topic)
		return ok && string(m.payload) == want
	})
}

func connectCollector(t *testing.T, url string, filters ...string) (*collector, paho.Client) {
	t.Helper()
	c := &collector{}
	client := paho.NewClient(paho.NewClientOptions().AddBroker(url).
		SetClientID(fmt.Sprintf("test-%d", time.Now().UnixNano())).SetAutoReconnect(false))
	if tok := client.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { client.Disconnect(0) })
	subs := map[string]byte{}
	for _, f := range filters {
		subs[f] = 1
	}
	tok := client.SubscribeMultiple(subs, func(_ paho.Client, m paho.Message) {
		c.mu.Lock()
		c.got = append(c.got, message{topic: m.Topic(), payload: bytes.Clone(m.Payload()), retained: m.Retained()})
		c.mu.Unlock()
	})
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return c, client
}

func runBridge(t *testing.T, url string, cams ...Camera) (*events.Bus, context.CancelFunc) {
	t.Helper()
	bus := events.NewBus(16)
	br := New(Config{URL: url, ClientID: "camrec-test", TopicPrefix: "camrec", DiscoveryPrefix: "homeassistant",
		Refresh: time.Hour, EventSnapshots: fakeSnapshots{}}, cams, bus, testutil.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = br.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return bus, stop
}

func publish(t *testing.T, client paho.Client, topic, payload string) {
	t.Helper()
	if tok := client.Publish(topic, 1, false, payload); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// TestMotionThroughBroker: through a real Mosquitto, a motion event turns
// the motion sensor and its zone's on and off again (also while the stage
// still says open just after the event's end), its snapshot goes out
// retained on the image topic at its start and its end, the arm switch
// and the follow-schedule button reach the stage (garbage does not), zones
// changed at run time get their entities, and a camera whose motion
// detection is switched off loses its motion entities and states at the
// next start.
func TestMotionThroughBroker(t *testing.T) {
	url := startMosquitto(t)
	mo := &fakeMotion{st: detect.Status{Enabled: true, Armed: true, ArmedBy: "always", Zones: zones("road", "sky")}}
	cam := Camera{View: fakeView{"cam0"}, Motion: mo}
	w, client := connectCollector(t, url, "camrec/#", "homeassistant/#")
	bus, stop := runBridge(t, url, cam)

	for _, what := range []string{"motion", "zone_road", "zone_sky"} {
		testutil.Eventually(t, 30*time.Second, "the "+what+" sensor's config", func() bool {
			m, ok := w.last("homeassistant/binary_sensor/camrec-test/cam0_" + what + "/config")
			return ok && len(m.payload) > 0
		})
	}
	w.await(t, "camrec/cam0/motion", "OFF")
	w.await(t, "camrec/cam0/armed", "ON")
	w.await(t, "camrec/cam0/zone/road", "OFF")
	w.await(t, "camrec/cam0/motion_score", "0")

	// An event starts: the snapshot so far, then the sensors.
	mo.set(func(st *detect.Status) {
		st.Active, st.ActiveZones, st.LastEventID, st.Events, st.LastEvent = true, []string{"road"}, "cam0-e1", 1, time.Now()
		st.Score = 3.14159
	})
	bus.Publish(events.Event{Type: events.MotionStarted, Camera: "cam0", EventID: "cam0-e1", Zones: []string{"road"}})
	w.await(t, "camrec/cam0/motion", "ON")
	w.await(t, "camrec/cam0/zone/road", "ON")
	w.await(t, "camrec/cam0/motion_snapshot", "\xff\xd8snapshot of cam0-e1")
	w.await(t, "camrec/cam0/motion_score", "3.1")
	if m, _ := w.last("camrec/cam0/zone/sky"); string(m.payload) != "OFF" {
		t.Errorf("zone sky %q during an event in road", m.payload)
	}
	// It ends; the stage says open a moment longer.
	bus.Publish(events.Event{Type: events.MotionEnded, Camera: "cam0", EventID: "cam0-e1", Zones: []string{"road"}})
	w.await(t, "camrec/cam0/motion", "OFF")
	w.await(t, "camrec/cam0/zone/road", "OFF")
	testutil.Eventually(t, 30*time.Second, "the final snapshot", func() bool { return len(w.all("camrec/cam0/motion_snapshot")) == 2 })
	// A client that comes later (Home Assistant starting) gets it.
	late, _ := connectCollector(t, url, "camrec/cam0/motion_snapshot")
	testutil.Eventually(t, 30*time.Second, "the retained snapshot", func() bool {
		m, ok := late.last("camrec/cam0/motion_snapshot")
		return ok && m.retained && string(m.payload) == "\xff\xd8snapshot of cam0-e1"
	})
	mo.set(func(st *detect.Status) { st.Active, st.ActiveZones = false, nil })
	evs := w.all("camrec/cam0/event")
	if len(evs) != 2 || !bytes.Contains(evs[0].payload, []byte(`"event_id":"cam0-e1"`)) {
		t.Errorf("events on the event topic: %d, first %s", len(evs), evs[0].payload)
	}

	// The arm switch and the button.
	publish(t, client, "camrec/cam0/armed/set", "OFF")
	w.await(t, "camrec/cam0/armed", "OFF")
	publish(t, client, "camrec/cam0/armed/set", "maybe")
	publish(t, client, "camrec/cam0/armed/set", "on")
	w.await(t, "camrec/cam0/armed", "ON")
	publish(t, client, "camrec/cam0/armed/set", "SCHEDULE")
	testutil.Eventually(t, 30*time.Second, "SetArmed(nil)", func() bool { return len(mo.called()) == 3 })
	if got := fmt.Sprint(mo.called()); got != "[false true nil]" {
		t.Errorf("SetArmed calls %s, want [false true nil]", got)
	}
	testutil.Eventually(t, 30*time.Second, "armed_by always", func() bool {
		m, _ := w.last("camrec/cam0/motion_attributes")
		return bytes.Contains(m.payload, []byte(`"armed_by":"always","override":null`))
	})

	// Zones changed on the page: sky goes, yard comes.
	mo.set(func(st *detect.Status) { st.Zones = zones("road", "yard") })
	w.await(t, "homeassistant/binary_sensor/camrec-test/cam0_zone_sky/config", "")
	w.await(t, "camrec/cam0/zone/sky", "")
	w.await(t, "camrec/cam0/zone/yard", "OFF")
	testutil.Eventually(t, 30*time.Second, "the yard sensor's config", func() bool {
		m, ok := w.last("homeassistant/binary_sensor/camrec-test/cam0_zone_yard/config")
		return ok && bytes.Contains(m.payload, []byte(`"state_topic":"camrec/cam0/zone/yard"`))
	})

	// Restarted without motion detection: its entities and states go, the
	// camera's stay.
	stop()
	mo.set(func(st *detect.Status) { st.Enabled = false })
	runBridge(t, url, cam)
	for _, topic := range []string{
		"homeassistant/binary_sensor/camrec-test/cam0_motion/config",
		"homeassistant/binary_sensor/camrec-test/cam0_zone_road/config",
		"homeassistant/switch/camrec-test/cam0_armed/config",
		"homeassistant/button/camrec-test/cam0_follow_schedule/config",
		"homeassistant/image/camrec-test/cam0_motion_snapshot/config",
		"homeassistant/sensor/camrec-test/cam0_motion_score/config",
		"camrec/cam0/motion_score", "camrec/cam0/motion", "camrec/cam0/armed", "camrec/cam0/zone/road", "camrec/cam0/motion_attributes", "camrec/cam0/motion_snapshot",
	} {
		w.await(t, topic, "")
	}
	for _, topic := range []string{"homeassistant/switch/camrec-test/cam0_recording/config", "camrec/cam0/state"} {
		if m, _ := w.last(topic); len(m.payload) == 0 {
			t.Errorf("%s was cleared", topic)
		}
	}
}
