package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/internal/tlsreload"
)

// broker is a real Mosquitto on a loopback port, with one user.
type broker struct {
	bin        string
	port       int
	dir        string
	user, pass string
	cmd        *exec.Cmd
	log        *testutil.SyncBuffer
	done       chan struct{}
}

// startBroker starts mosquitto with a password file (no anonymous
// clients, no persistence: a restart forgets every retained message) and
// stops it when the test ends. extraConf is added to its config.
func startBroker(t *testing.T, extraConf ...string) *broker {
	t.Helper()
	passwd := requireTool(t, "mosquitto_passwd")
	b := &broker{dir: t.TempDir(), user: "camrec", pass: "mqtt-s3cret-Pa55", bin: "/usr/sbin/mosquitto"}
	if _, err := os.Stat(b.bin); err != nil { // Debian's place, outside some users' PATH
		b.bin = requireTool(t, "mosquitto")
	}
	b.port = freePort(t)
	pw := filepath.Join(b.dir, "passwd")
	if out, err := exec.Command(passwd, "-b", "-c", pw, b.user, b.pass).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\npersistence false\n", b.port, pw)
	conf += strings.Join(extraConf, "")
	if os.Geteuid() == 0 {
		// Run as root, mosquitto would switch to its own user, who
		// cannot read the test's private dir.
		conf += "user root\n"
	}
	if err := os.WriteFile(filepath.Join(b.dir, "mosquitto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	t.Cleanup(b.stop)
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (b *broker) url() string { return fmt.Sprintf("mqtt://127.0.0.1:%d", b.port) }

func (b *broker) start(t *testing.T) {
	t.Helper()
	b.log, b.done = &testutil.SyncBuffer{}, make(chan struct{})
	b.cmd = exec.Command(b.bin, "-v", "-c", filepath.Join(b.dir, "mosquitto.conf"))
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := b.done
	go func() { b.cmd.Wait(); close(done) }()
	waitFor(t, 20*time.Second, "mosquitto listening", func() bool {
		select {
		case <-done:
			t.Fatalf("mosquitto exited: %s", b.log.String())
		default:
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (b *broker) stop() {
	b.cmd.Process.Kill()
	<-b.done
}

// watcher is a test's own MQTT client: it keeps every message it got.
type watcher struct {
	client paho.Client
	mu     sync.Mutex
	got    []watched
}

type watched struct {
	topic    string
	payload  []byte
	retained bool
}

// watch connects to b and subscribes to filters.
func watch(t *testing.T, b *broker, filters ...string) *watcher {
	t.Helper()
	w := &watcher{}
	opts := paho.NewClientOptions().AddBroker(b.url()).SetUsername(b.user).SetPassword(b.pass).
		SetClientID(fmt.Sprintf("test-%d", time.Now().UnixNano())).SetAutoReconnect(false)
	w.client = paho.NewClient(opts)
	if tok := w.client.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("test client connect: %v", tok.Error())
	}
	t.Cleanup(func() { w.client.Disconnect(0) })
	subs := map[string]byte{}
	for _, f := range filters {
		subs[f] = 1
	}
	tok := w.client.SubscribeMultiple(subs, func(_ paho.Client, m paho.Message) {
		w.mu.Lock()
		w.got = append(w.got, watched{m.Topic(), m.Payload(), m.Retained()})
		w.mu.Unlock()
	})
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return w
}

// last is the last message on topic, and whether there was one.
func (w *watcher) last(topic string) (watched, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.got) - 1; i >= 0; i-- {
		if w.got[i].topic == topic {
			return w.got[i], true
		}
	}
	return watched{}, false
}

// count is how many messages arrived on topic.
func (w *watcher) count(topic string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.got {
		if m.topic == topic {
			n++
		}
	}
	return n
}

// await waits until the last message on topic carries want.
func (w *watcher) await(t *testing.T, topic, want string) {
	t.Helper()
	waitFor(t, 30*time.Second, topic+" = "+want, func() bool {
		m, ok := w.last(topic)
		return ok && string(m.payload) == want
	})
}

// events returns the JSON events received on topic, in order.
func (w *watcher) events(topic string) []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []map[string]any
	for _, m := range w.got {
		if m.topic == topic {
			var e map[string]any
			if json.Unmarshal(m.payload, &e) == nil {
				out = append(out, e)
			}
		}
	}
	return out
}

func (w *watcher) publish(t *testing.T, topic, payload string, retained bool) {
	t.Helper()
	if tok := w.client.Publish(topic, 1, retained, payload); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// mqttConfig writes a camrec config for cams (test: sources at 640x480)
// linked to b with the given password.
func mqttConfig(t *testing.T, b *broker, password string, cams ...string) string {
	t.Helper()
	return mqttConfigURL(t, b, b.url(), "", password, cams...)
}

// mqttConfigURL is mqttConfig with another URL and a ca_file ("" for none).
func mqttConfigURL(t *testing.T, b *broker, url, caFile, password string, cams ...string) string {
	t.Helper()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "mqtt-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString("cameras:\n")
	for _, c := range cams {
		fmt.Fprintf(&sb, "  - {name: %s, device: \"test:\", size: 640x480, fps: 15}\n", c)
	}
	fmt.Fprintf(&sb, "mqtt:\n  url: %s\n  username: %s\n  password_file: %s\n  client_id: camrec-e2e\n", url, b.user, pwFile)
	if caFile != "" {
		fmt.Fprintf(&sb, "  ca_file: %s\n", caFile)
	}
	p := filepath.Join(dir, "camrec.yaml")
	if err := os.WriteFile(p, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// discoveryTopic is where camrec's Home Assistant config of one entity is.
func discoveryTopic(component, cam, what string) string {
	return "homeassistant/" + component + "/camrec-e2e/" + cam + "_" + what + "/config"
}

// TestMQTTHomeAssistant: camrec announces itself and each camera to Home
// Assistant through a real Mosquitto, obeys record and snapshot commands,
// publishes events, and removes the entities of a camera that left the
// config.
func TestMQTTHomeAssistant(t *testing.T) {
	b := startBroker(t)
	dir := t.TempDir()
	first := startCamrec(t, "-config", mqttConfig(t, b, b.pass, "garage", "porch"), "-record-dir", dir)
	w := watch(t, b, "homeassistant/#", "camrec/#")
	w.await(t, "camrec/status", "online")
	waitFor(t, 30*time.Second, "porch's discovery", func() bool {
		_, ok := w.last(discoveryTopic("switch", "porch", "recording"))
		return ok
	})
	first.Signal(syscall.SIGTERM)
	first.Wait(t, 30*time.Second)
	w.await(t, "camrec/status", "offline") // a clean shutdown says so

	// porch leaves the config.
	d := startCamrec(t, "-config", mqttConfig(t, b, b.pass, "garage"), "-record-dir", dir)
	w.await(t, "camrec/status", "online")
	for _, e := range [][2]string{{"switch", "recording"}, {"binary_sensor", "connectivity"}, {"sensor", "state"},
		{"sensor", "fps"}, {"sensor", "disk_free"}, {"camera", "camera"}, {"button", "snapshot"}} {
		w.await(t, discoveryTopic(e[0], "porch", e[1]), "") // removed: an empty retained payload
	}
	w.await(t, "camrec/porch/state", "")

	// A fresh subscriber (Home Assistant starting) sees garage's entities,
	// field by field, and its state, all retained.
	ha := watch(t, b, "homeassistant/+/camrec-e2e/+/config", "camrec/garage/+")
	config := func(component, what string) map[string]any {
		t.Helper()
		topic := discoveryTopic(component, "garage", what)
		var m watched
		waitFor(t, 30*time.Second, topic, func() bool {
			var ok bool
			m, ok = ha.last(topic)
			return ok
		})
		if !m.retained {
			t.Errorf("%s is not retained", topic)
		}
		var c map[string]any
		if err := json.Unmarshal(m.payload, &c); err != nil {
			t.Fatalf("%s: %v: %s", topic, err, m.payload)
		}
		return c
	}
	check := func(c map[string]any, what string, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if got := fmt.Sprint(c[k]); got != fmt.Sprint(v) {
				t.Errorf("%s: %s = %s, want %v", what, k, got, v)
			}
		}
		dev, _ := c["device"].(map[string]any)
		if fmt.Sprint(dev["identifiers"]) != "[camrec-e2e]" || dev["name"] != "camrec-e2e" || dev["manufacturer"] != "camrec" || dev["sw_version"] == "" {
			t.Errorf("%s: device %v", what, c["device"])
		}
		if c["availability_topic"] != "camrec/status" {
			t.Errorf("%s: availability_topic %v", what, c["availability_topic"])
		}
	}
	check(config("switch", "recording"), "switch", map[string]any{
		"name": "garage recording", "unique_id": "camrec-e2e_garage_recording",
		"command_topic": "camrec/garage/recording/set", "state_topic": "camrec/garage/recording",
		"payload_on": "ON", "payload_off": "OFF", "json_attributes_topic": "camrec/garage/attributes"})
	check(config("binary_sensor", "connectivity"), "binary_sensor", map[string]any{
		"unique_id": "camrec-e2e_garage_connectivity", "device_class": "connectivity", "state_topic": "camrec/garage/state",
		"value_template": "{{ 'ON' if value == 'streaming' else 'OFF' }}"})
	check(config("sensor", "state"), "state sensor", map[string]any{
		"unique_id": "camrec-e2e_garage_state", "device_class": "enum", "state_topic": "camrec/garage/state",
		"options": "[starting streaming stalled disconnected error]"})
	check(config("sensor", "fps"), "fps sensor", map[string]any{
		"unique_id": "camrec-e2e_garage_fps", "state_topic": "camrec/garage/attributes", "unit_of_measurement": "fps",
		"value_template": "{{ value_json.fps }}", "state_class": "measurement"})
	check(config("sensor", "disk_free"), "disk sensor", map[string]any{
		"unique_id": "camrec-e2e_garage_disk_free", "state_topic": "camrec/garage/attributes", "unit_of_measurement": "GB",
		"device_class": "data_size", "state_class": "measurement", "entity_category": "diagnostic"})
	check(config("camera", "camera"), "camera", map[string]any{
		"unique_id": "camrec-e2e_garage_camera", "topic": "camrec/garage/snapshot"})
	check(config("button", "snapshot"), "button", map[string]any{
		"unique_id": "camrec-e2e_garage_snapshot", "command_topic": "camrec/garage/snapshot/set", "payload_press": "PRESS"})
	ha.await(t, "camrec/garage/state", "streaming")
	ha.await(t, "camrec/garage/recording", "OFF")
	var attrs struct {
		State         string `json:"state"`
		Recording     bool   `json:"recording"`
		DiskFreeBytes int64  `json:"disk_free_bytes"`
	}
	m, _ := ha.last("camrec/garage/attributes")
	if err := json.Unmarshal(m.payload, &attrs); err != nil || attrs.State != "streaming" || attrs.DiskFreeBytes <= 0 {
		t.Errorf("attributes %s (%v)", m.payload, err)
	}
	// The frame rate sensor gets the measured rate (a camera just started
	// has none yet; camrec looks again).
	waitFor(t, 60*time.Second, "a measured fps in the attributes", func() bool {
		m, _ := ha.last("camrec/garage/attributes")
		var a struct {
			FPS float64 `json:"fps"`
		}
		return json.Unmarshal(m.payload, &a) == nil && a.FPS > 0
	})

	// ON starts a recording (seen through the API), twice ON changes
	// nothing, OFF stops it and the file is there.
	ha.publish(t, "camrec/garage/recording/set", "ON", false)
	ha.await(t, "camrec/garage/recording", "ON")
	st := d.camStatus(t, "garage")
	if !st.Recording.Active || st.Recording.ID == "" {
		t.Fatalf("after ON, the API says %+v", st.Recording)
	}
	id := st.Recording.ID
	ha.publish(t, "camrec/garage/recording/set", "ON", false)
	waitFor(t, 60*time.Second, "frames recorded", func() bool {
		return d.camStatus(t, "garage").Recording.Frames >= 15
	})
	if got := d.camStatus(t, "garage").Recording.ID; got != id {
		t.Errorf("a second ON started recording %s (was %s)", got, id)
	}
	ha.publish(t, "camrec/garage/recording/set", "off", false)
	ha.await(t, "camrec/garage/recording", "OFF")
	var stopped map[string]any
	waitFor(t, 60*time.Second, "recording_stopped event", func() bool {
		for _, e := range ha.events("camrec/garage/event") {
			if e["type"] == "recording_stopped" {
				stopped = e
				return true
			}
		}
		return false
	})
	evs := ha.events("camrec/garage/event")
	if evs[0]["type"] != "recording_started" || evs[0]["recording_id"] != id {
		t.Errorf("first event %v, want recording_started of %s", evs[0], id)
	}
	if stopped["recording_id"] != id || stopped["file_url"] != "/api/v1/recordings/"+id+"/file" || stopped["duration_s"].(float64) <= 0 || stopped["bytes"].(float64) <= 0 {
		t.Errorf("recording_stopped %v", stopped)
	}
	if m, ok := ha.last("camrec/garage/event"); ok && m.retained {
		t.Error("events must not be retained")
	}
	d.awaitFinished(t, "garage", cred{})
	p := ffprobe(t, filepath.Join(dir, "garage", id))
	if p.Codec != "h264" || p.Width != 640 || p.Height != 480 || p.Frames < 15 {
		t.Errorf("the recording: %+v", p)
	}

	// The button publishes a JPEG on the camera's image topic.
	ha.publish(t, "camrec/garage/snapshot/set", "PRESS", false)
	waitFor(t, 30*time.Second, "snapshot", func() bool { _, ok := ha.last("camrec/garage/snapshot"); return ok })
	snap, _ := ha.last("camrec/garage/snapshot")
	img, err := jpeg.Decode(bytes.NewReader(snap.payload))
	if err != nil || img.Bounds().Dx() != 640 || img.Bounds().Dy() != 480 {
		t.Errorf("snapshot: %v %v", err, img)
	}

	// Home Assistant restarting says "online": camrec announces again.
	before := ha.count(discoveryTopic("switch", "garage", "recording"))
	ha.publish(t, "homeassistant/status", "online", false)
	waitFor(t, 30*time.Second, "discovery published again", func() bool {
		return ha.count(discoveryTopic("switch", "garage", "recording")) > before
	})
	if strings.Contains(d.Log(), b.pass) {
		t.Error("the MQTT password is in camrec's log")
	}
}

// TestMQTTBrokerComesAndGoes: camrec starts while the broker is down and
// serves anyway; once the broker is up it announces itself, after a
// broker restart (which forgets retained messages) it announces again,
// and killed with SIGKILL it is declared offline by its last will.
func TestMQTTBrokerComesAndGoes(t *testing.T) {
	b := startBroker(t)
	b.stop()
	d := startCamrec(t, "-config", mqttConfig(t, b, b.pass, "garage"))
	waitFor(t, 30*time.Second, "the broker's absence logged", func() bool {
		return strings.Contains(d.Log(), "mqtt broker unavailable")
	})
	if code, body := d.do(t, "GET", "/api/v1/cameras", "", nil); code != 200 {
		t.Fatalf("HTTP with the broker down: %d %s", code, body)
	}

	b.start(t)
	w := watch(t, b, "camrec/#", "homeassistant/#")
	w.await(t, "camrec/status", "online")
	w.await(t, "camrec/garage/state", "streaming")
	if n := strings.Count(d.Log(), "mqtt broker unavailable"); n != 1 {
		t.Errorf("the broker's absence was logged %d times, want once per change:\n%s", n, d.Log())
	}

	b.stop()
	b.start(t)
	w2 := watch(t, b, "camrec/#", "homeassistant/#")
	w2.await(t, "camrec/status", "online")
	waitFor(t, 30*time.Second, "discovery after the broker's restart", func() bool {
		m, ok := w2.last(discoveryTopic("switch", "garage", "recording"))
		return ok && len(m.payload) > 0
	})
	w2.await(t, "camrec/garage/recording", "OFF")

	d.Signal(syscall.SIGKILL)
	d.Wait(t, 30*time.Second)
	w2.await(t, "camrec/status", "offline")
}

// TestMQTTWrongPassword: a refused login is logged once, clearly and
// without the password, and camrec goes on serving HTTP.
func TestMQTTWrongPassword(t *testing.T) {
	b := startBroker(t)
	wrong := "not-the-Pa55word"
	d := startCamrec(t, "-config", mqttConfig(t, b, wrong, "garage"))
	waitFor(t, 60*time.Second, "three attempts refused", func() bool {
		return strings.Count(b.log.String(), "not authorised") >= 3
	})
	if n := strings.Count(d.Log(), "refused camrec's user name or password"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once:\n%s", n, d.Log())
	}
	if strings.Contains(d.Log(), wrong) {
		t.Error("the wrong password is in camrec's log")
	}
	if code, body := d.do(t, "GET", "/api/v1/cameras/garage", "", nil); code != 200 {
		t.Fatalf("HTTP: %d %s", code, body)
	}
}

// TestMQTTOverTLS: with mqtts:// and the broker's CA in ca_file camrec
// connects; without it (the system's CAs do not know a self-signed
// certificate) it says why, once, and goes on serving.
func TestMQTTOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := tlsreload.WriteSelfSigned(cert, key, []string{"127.0.0.1", "localhost"}, 1); err != nil {
		t.Fatal(err)
	}
	tlsPort := freePort(t)
	b := startBroker(t, fmt.Sprintf("listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n", tlsPort, cert, key))
	w := watch(t, b, "camrec/#")
	tlsURL := fmt.Sprintf("mqtts://127.0.0.1:%d", tlsPort)

	untrusted := startCamrec(t, "-config", mqttConfigURL(t, b, tlsURL, "", b.pass, "garage"))
	waitFor(t, 30*time.Second, "the certificate refused", func() bool {
		return strings.Contains(untrusted.Log(), "mqtt broker unavailable") && strings.Contains(untrusted.Log(), "give its CA in mqtt.ca_file")
	})
	if code, body := untrusted.do(t, "GET", "/api/v1/cameras/garage", "", nil); code != 200 {
		t.Fatalf("HTTP: %d %s", code, body)
	}
	if _, ok := w.last("camrec/status"); ok {
		t.Fatal("camrec got through TLS without trusting the broker")
	}

	startCamrec(t, "-config", mqttConfigURL(t, b, tlsURL, cert, b.pass, "garage"))
	w.await(t, "camrec/status", "online")
	w.await(t, "camrec/garage/state", "streaming")
}
