package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// boxScene is 640x360 at 30 fps for 6 s: colour bars with sensor noise,
// and a white box crossing the lower half (zone "road") from 3 s to 5 s.
// Its first 3 s are the quiet picture the feeder loops between crossings.
const boxScene = "smptehdbars=s=640x360:r=30[bg];color=c=white:s=80x80:r=30[box];" +
	"[bg][box]overlay=x='if(between(t,3,5),-80+(t-3)*360,-1000)':y=220:eval=frame:shortest=1," +
	"noise=alls=8:allf=t,format=yuvj422p"

// feeder is a pipe: camera fed at 30 fps: the quiet picture in a loop,
// and a crossing whenever the test asks for one.
type feeder struct {
	segs chan segment
	stop chan struct{}
	done chan struct{}
}

type segment struct {
	frames [][]byte
	played chan struct{} // closed once the last frame is written
}

func startFeeder(t *testing.T, w io.Writer, quiet [][]byte) *feeder {
	f := &feeder{segs: make(chan segment, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		start, n := time.Now(), 0
		write := func(frame []byte) bool {
			due := start.Add(time.Duration(n) * time.Second / 30)
			n++
			if d := time.Until(due); d > 0 {
				time.Sleep(d) // pacing a camera, not waiting for a condition
			}
			_, err := w.Write(frame)
			return err == nil
		}
		for i := 0; ; i = (i + 1) % len(quiet) {
			select {
			case <-f.stop:
				return
			case s := <-f.segs:
				for _, frame := range s.frames {
					if !write(frame) {
						return
					}
				}
				close(s.played)
			default:
				if !write(quiet[i]) {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { close(f.stop); <-f.done })
	return f
}

// cross plays a crossing and returns a channel closed once it is written.
func (f *feeder) cross(frames [][]byte) chan struct{} {
	s := segment{frames: frames, played: make(chan struct{})}
	f.segs <- s
	return s.played
}

// played waits until a crossing is written.
func played(t *testing.T, ch chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatal("the crossing was not written within 60 s (camrec stopped reading its pipe?)")
	}
}

// cameraMotion is the camera JSON's motion object.
type cameraMotion struct {
	Armed          bool    `json:"armed"`
	ArmedBy        string  `json:"armed_by"`
	Override       *bool   `json:"override"`
	Active         bool    `json:"active"`
	Events         int     `json:"events"`
	FramesAnalysed int     `json:"frames_analysed"`
	LastEventID    *string `json:"last_event_id"`
	Error          string  `json:"error"`
}

func (d *Daemon) motion(t *testing.T, cam string) cameraMotion {
	t.Helper()
	var st struct {
		Motion *cameraMotion `json:"motion"`
	}
	if code, body := d.do(t, "GET", "/api/v1/cameras/"+cam, "", &st); code != 200 || st.Motion == nil {
		t.Fatalf("GET camera %s: %d %s", cam, code, body)
	}
	return *st.Motion
}

// index is the position of the last message on topic among all w got (-1:
// none), so that the order of messages on different topics can be told.
func (w *watcher) index(topic string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.got) - 1; i >= 0; i-- {
		if w.got[i].topic == topic {
			return i
		}
	}
	return -1
}

// payloads are the payloads received on topic, in order.
func (w *watcher) payloads(topic string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range w.got {
		if m.topic == topic {
			out = append(out, string(m.payload))
		}
	}
	return out
}

// TestMQTTMotion: the real binary, a real Mosquitto and a pipe: camera
// fed a rendered scene. Home Assistant is told of a motion binary_sensor,
// one per zone, an arm switch, a follow-schedule button, an image and a
// score sensor; a box crossing zone road turns the motion and road
// sensors on and off again (zone sky stays off), the events on the event
// topic carry the event's id and snapshot URL, and the image topic gets
// the event's JPEG, retained. The switch's OFF disarms (the camera's JSON
// says so) and a crossing then makes no event; ON and the button arm
// again, and the next crossing makes one.
func TestMQTTMotion(t *testing.T) {
	frames := scene(t, boxScene, 6)
	if len(frames) < 170 {
		t.Fatalf("the scene has %d frames, want 180", len(frames))
	}
	quiet, crossing := frames[:90], frames[90:]
	b := startBroker(t)
	w := watch(t, b, "homeassistant/#", "camrec/#")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "mqtt-password")
	if err := os.WriteFile(pwFile, []byte(b.pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pipe := fifo(t)
	cfg := filepath.Join(dir, "camrec.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`cameras:
  - name: cam0
    device: "pipe:%s"
    size: 640x360
    fps: 30
    motion:
      enabled: true
      event_gap: 2s
      zones:
        - name: road
          polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
        - name: sky
          polygon: [[0.5, 0], [1, 0], [1, 0.4], [0.5, 0.4]]
mqtt:
  url: %s
  username: %s
  password_file: %s
  client_id: camrec-e2e
`, pipe, b.url(), b.user, pwFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-config", cfg)
	feed := startFeeder(t, openWriter(t, pipe), quiet)
	w.await(t, "camrec/status", "online")

	// Home Assistant's entities.
	config := func(component, what string) map[string]any {
		t.Helper()
		topic := discoveryTopic(component, "cam0", what)
		var c map[string]any
		waitFor(t, 60*time.Second, topic, func() bool {
			m, ok := w.last(topic)
			return ok && json.Unmarshal(m.payload, &c) == nil
		})
		if c["availability_topic"] != "camrec/status" || c["unique_id"] != "camrec-e2e_cam0_"+what {
			t.Errorf("%s: availability_topic %v, unique_id %v", topic, c["availability_topic"], c["unique_id"])
		}
		return c
	}
	check := func(c map[string]any, what string, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if got := fmt.Sprint(c[k]); got != v {
				t.Errorf("%s: %s = %s, want %s", what, k, got, v)
			}
		}
	}
	check(config("binary_sensor", "motion"), "motion sensor", map[string]string{
		"device_class": "motion", "state_topic": "camrec/cam0/motion", "json_attributes_topic": "camrec/cam0/motion_attributes"})
	check(config("binary_sensor", "zone_road"), "road sensor", map[string]string{
		"device_class": "motion", "state_topic": "camrec/cam0/zone/road"})
	check(config("binary_sensor", "zone_sky"), "sky sensor", map[string]string{
		"device_class": "motion", "state_topic": "camrec/cam0/zone/sky"})
	check(config("switch", "armed"), "arm switch", map[string]string{
		"command_topic": "camrec/cam0/armed/set", "state_topic": "camrec/cam0/armed", "payload_on": "ON", "payload_off": "OFF"})
	check(config("button", "follow_schedule"), "follow-schedule button", map[string]string{
		"command_topic": "camrec/cam0/armed/set", "payload_press": "SCHEDULE"})
	check(config("image", "motion_snapshot"), "image", map[string]string{
		"image_topic": "camrec/cam0/motion_snapshot", "content_type": "image/jpeg"})
	check(config("sensor", "motion_score"), "score sensor", map[string]string{
		"state_topic": "camrec/cam0/motion_score", "unit_of_measurement": "%", "entity_category": "diagnostic"})
	w.await(t, "camrec/cam0/motion", "OFF")
	w.await(t, "camrec/cam0/armed", "ON")
	w.await(t, "camrec/cam0/zone/road", "OFF")
	w.await(t, "camrec/cam0/zone/sky", "OFF")

	// The detector has learnt the picture: a box crosses.
	waitFor(t, 60*time.Second, "5 s of analysed frames", func() bool { return d.motion(t, "cam0").FramesAnalysed >= 25 })
	feed.cross(crossing)
	w.await(t, "camrec/cam0/motion", "ON")
	w.await(t, "camrec/cam0/zone/road", "ON")
	w.await(t, "camrec/cam0/motion", "OFF")
	w.await(t, "camrec/cam0/zone/road", "OFF")
	for _, p := range w.payloads("camrec/cam0/zone/sky") {
		if p != "OFF" {
			t.Errorf("zone sky said %q; the box crossed road only", p)
		}
	}
	var started, ended map[string]any
	waitFor(t, 30*time.Second, "motion_ended on the event topic", func() bool {
		for _, e := range w.events("camrec/cam0/event") {
			switch e["type"] {
			case "motion_started":
				started = e
			case "motion_ended":
				ended = e
			}
		}
		return ended != nil
	})
	id, _ := ended["event_id"].(string)
	if started == nil || id == "" || started["event_id"] != id {
		t.Fatalf("motion_started %v, motion_ended %v: want the same event_id", started, ended)
	}
	if want := "/api/v1/motion-events/" + id + "/snapshot.jpg"; ended["snapshot_url"] != want || started["snapshot_url"] != want {
		t.Errorf("snapshot_url %v / %v, want %s", started["snapshot_url"], ended["snapshot_url"], want)
	}
	if fmt.Sprint(ended["zones"]) != "[road]" {
		t.Errorf("motion_ended zones %v, want [road]", ended["zones"])
	}
	// The image: the event's snapshot, after its end too.
	waitFor(t, 30*time.Second, "the event's snapshot after its end", func() bool {
		return w.index("camrec/cam0/motion_snapshot") > w.index("camrec/cam0/event")
	})
	snap, _ := w.last("camrec/cam0/motion_snapshot")
	if !bytes.HasPrefix(snap.payload, []byte{0xff, 0xd8}) {
		t.Fatalf("the image topic carries %d bytes starting % x, want a JPEG", len(snap.payload), snap.payload[:min(4, len(snap.payload))])
	}
	if img, err := jpeg.Decode(bytes.NewReader(snap.payload)); err != nil || img.Bounds().Dx() != 640 || img.Bounds().Dy() != 360 {
		t.Errorf("the snapshot: %v %v", err, img)
	}
	// Retained: Home Assistant starting later gets it, with the sensors.
	late := watch(t, b, "camrec/cam0/motion_snapshot", "camrec/cam0/motion")
	waitFor(t, 30*time.Second, "the retained snapshot", func() bool {
		m, ok := late.last("camrec/cam0/motion_snapshot")
		return ok && m.retained && bytes.Equal(m.payload, snap.payload)
	})
	late.await(t, "camrec/cam0/motion", "OFF")

	// The switch disarms: no event for the next crossing.
	w.publish(t, "camrec/cam0/armed/set", "OFF", false)
	w.await(t, "camrec/cam0/armed", "OFF")
	if m := d.motion(t, "cam0"); m.Armed || m.ArmedBy != "user" || m.Override == nil || *m.Override {
		t.Fatalf("after OFF the camera's motion says armed %v by %q, override %v", m.Armed, m.ArmedBy, m.Override)
	}
	waitFor(t, 30*time.Second, "the disarmed switch's attributes", func() bool {
		m, _ := w.last("camrec/cam0/motion_attributes")
		return strings.Contains(string(m.payload), `"armed":false,"armed_by":"user","override":false`)
	})
	played(t, feed.cross(crossing))
	if m := d.motion(t, "cam0"); m.Events != 1 || m.Active {
		t.Errorf("disarmed, a crossing: the camera counts %d events (active %v), want 1", m.Events, m.Active)
	}

	// ON, then the button (back to the schedule: none, so always armed).
	w.publish(t, "camrec/cam0/armed/set", "ON", false)
	w.await(t, "camrec/cam0/armed", "ON")
	if m := d.motion(t, "cam0"); !m.Armed || m.ArmedBy != "user" || m.Override == nil || !*m.Override {
		t.Errorf("after ON the camera's motion says armed %v by %q, override %v", m.Armed, m.ArmedBy, m.Override)
	}
	w.publish(t, "camrec/cam0/armed/set", "SCHEDULE", false)
	waitFor(t, 30*time.Second, "armed by no one but the (absent) schedule", func() bool {
		m := d.motion(t, "cam0")
		return m.Armed && m.ArmedBy == "always" && m.Override == nil
	})
	w.await(t, "camrec/cam0/armed", "ON")
	analysed := d.motion(t, "cam0").FramesAnalysed
	waitFor(t, 60*time.Second, "3 s of analysed frames after arming", func() bool {
		return d.motion(t, "cam0").FramesAnalysed >= analysed+15
	})
	before := len(w.payloads("camrec/cam0/motion"))
	feed.cross(crossing)
	waitFor(t, 60*time.Second, "the motion sensor on and off again", func() bool {
		p := w.payloads("camrec/cam0/motion")
		return strings.Contains(strings.Join(p[before:], ","), "ON,OFF")
	})
	n := 0
	for _, e := range w.events("camrec/cam0/event") {
		if e["type"] == "motion_started" {
			n++
		}
	}
	if m := d.motion(t, "cam0"); n != 2 || m.Events != 2 {
		t.Errorf("%d motion_started on MQTT, %d events counted by the camera; want 2 (the disarmed crossing made none)", n, m.Events)
	}
	if strings.Contains(d.Log(), b.pass) {
		t.Error("the MQTT password is in camrec's log")
	}
}
