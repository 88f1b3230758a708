package mqtt

import (
	"encoding/json"
	"strings"
)

// discoveryMessage is one retained Home Assistant discovery config.
type discoveryMessage struct {
	topic   string
	payload []byte
}

// The entities of one camera, by the suffix of their object id (a camera
// named garage has garage_recording, garage_connectivity, …). Longest
// first, for stale topics to be matched to their camera.
var entitySuffixes = []string{"connectivity", "disk_free", "recording", "snapshot", "camera", "state", "fps"}

// discovery returns the Home Assistant discovery configs of camera cam:
// a switch to record, a connectivity binary_sensor, sensors for the
// state, the frame rate and the free disk, an MQTT camera showing the
// snapshot topic and a button to take a snapshot. All belong to one
// device, this camrec.
func (b *Bridge) discovery(cam string) []discoveryMessage {
	t := b.topics
	device := map[string]any{
		"identifiers":  []string{t.node},
		"name":         b.cfg.ClientID,
		"manufacturer": "camrec",
		"model":        "camrec webcam recorder",
		"sw_version":   b.cfg.Version,
	}
	origin := map[string]any{"name": "camrec", "sw_version": b.cfg.Version}
	entity := func(component, what, name string, fields map[string]any) discoveryMessage {
		fields["name"] = name
		fields["unique_id"] = t.node + "_" + cam + "_" + what
		fields["availability_topic"] = t.availability()
		fields["device"] = device
		fields["origin"] = origin
		payload, err := json.Marshal(fields)
		if err != nil {
			panic(err) // maps of strings, numbers and slices always marshal
		}
		return discoveryMessage{topic: t.discoveryConfig(component, cam, what), payload: payload}
	}
	state, attrs := t.camera(cam, "state"), t.camera(cam, "attributes")
	return []discoveryMessage{
		entity("switch", "recording", cam+" recording", map[string]any{
			"command_topic":         t.command(cam, "recording"),
			"state_topic":           t.camera(cam, "recording"),
			"payload_on":            payloadOn,
			"payload_off":           payloadOff,
			"json_attributes_topic": attrs,
			"icon":                  "mdi:record-rec",
		}),
		entity("binary_sensor", "connectivity", cam+" connected", map[string]any{
			"state_topic":    state,
			"value_template": "{{ 'ON' if value == 'streaming' else 'OFF' }}",
			"device_class":   "connectivity",
		}),
		entity("sensor", "state", cam+" state", map[string]any{
			"state_topic":           state,
			"device_class":          "enum",
			"options":               cameraStates,
			"json_attributes_topic": attrs,
		}),
		entity("sensor", "fps", cam+" frame rate", map[string]any{
			"state_topic":                 attrs,
			"value_template":              "{{ value_json.fps }}",
			"unit_of_measurement":         "fps",
			"state_class":                 "measurement",
			"suggested_display_precision": 1,
			"icon":                        "mdi:camera-timer",
		}),
		entity("sensor", "disk_free", cam+" disk free", map[string]any{
			"state_topic":                 attrs,
			"value_template":              "{{ (value_json.disk_free_bytes / 1000000000) | round(2) }}",
			"unit_of_measurement":         "GB",
			"device_class":                "data_size",
			"state_class":                 "measurement",
			"suggested_display_precision": 1,
			"entity_category":             "diagnostic",
		}),
		entity("camera", "camera", cam, map[string]any{
			"topic": t.camera(cam, "snapshot"),
		}),
		entity("button", "snapshot", cam+" take snapshot", map[string]any{
			"command_topic": t.command(cam, "snapshot"),
			"payload_press": "PRESS",
			"icon":          "mdi:camera",
		}),
	}
}

// forgetStale removes a retained discovery config of this node that no
// configured camera publishes (a camera that left the config), and the
// state that camera left on the broker.
func (c *conn) forgetStale(m message) {
	b := c.b
	if !m.retained || len(m.payload) == 0 {
		return
	}
	for _, name := range b.names {
		for _, d := range b.discovery(name) {
			if d.topic == m.topic {
				return
			}
		}
	}
	b.log.Info("mqtt: removing a Home Assistant entity camrec no longer has", "topic", m.topic)
	_ = c.publish(m.topic, true, nil)
	object := strings.Split(m.topic, "/")[3]
	for _, suffix := range entitySuffixes {
		if cam, ok := strings.CutSuffix(object, "_"+suffix); ok && cam != "" {
			if _, configured := b.cams[cam]; !configured {
				for _, what := range []string{"state", "recording", "attributes"} {
					_ = c.publish(b.topics.camera(cam, what), true, nil)
				}
			}
			return
		}
	}
}
