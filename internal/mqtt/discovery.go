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

// discovery returns the Home Assistant discovery configs of camera cam:
// a switch to record, a connectivity binary_sensor, sensors for the
// state, the frame rate and the free disk, an MQTT camera showing the
// snapshot topic and a button to take a snapshot; with motion detection,
// a motion binary_sensor and one per zone, a switch to arm it, a button
// that gives arming back to the schedule, an image of the last event's
// snapshot and a diagnostic sensor of the motion score. All belong to
// one device, this camrec.
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
	msgs := []discoveryMessage{
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
	m, st := motionOf(b.cams[cam])
	if m == nil {
		return msgs
	}
	mattrs := t.camera(cam, "motion_attributes")
	msgs = append(msgs,
		entity("binary_sensor", "motion", cam+" motion", map[string]any{
			"state_topic":           t.camera(cam, "motion"),
			"device_class":          "motion",
			"json_attributes_topic": mattrs,
		}),
		entity("switch", "armed", cam+" motion armed", map[string]any{
			"command_topic":         t.command(cam, "armed"),
			"state_topic":           t.camera(cam, "armed"),
			"payload_on":            payloadOn,
			"payload_off":           payloadOff,
			"json_attributes_topic": mattrs,
			"icon":                  "mdi:motion-sensor",
		}),
		entity("button", "follow_schedule", cam+" motion follow schedule", map[string]any{
			"command_topic": t.command(cam, "armed"),
			"payload_press": payloadSchedule,
			"icon":          "mdi:calendar-clock",
		}),
		entity("image", "motion_snapshot", cam+" last motion", map[string]any{
			"image_topic":  t.camera(cam, "motion_snapshot"),
			"content_type": "image/jpeg",
		}),
		entity("sensor", "motion_score", cam+" motion score", map[string]any{
			"state_topic":                 t.camera(cam, "motion_score"),
			"unit_of_measurement":         "%",
			"state_class":                 "measurement",
			"suggested_display_precision": 1,
			"entity_category":             "diagnostic",
			"icon":                        "mdi:motion",
		}),
	)
	for _, z := range zoneNames(st) {
		msgs = append(msgs, entity("binary_sensor", "zone_"+z, cam+" motion in "+z, map[string]any{
			"state_topic":  t.zone(cam, z),
			"device_class": "motion",
		}))
	}
	return msgs
}

// stateKeys are the keys of a discovery config that name topics camrec
// publishes retained.
var stateKeys = []string{"state_topic", "json_attributes_topic", "image_topic"}

// forgetStale removes a retained discovery config of this node that no
// configured camera publishes (a camera that left the config, a zone or a
// camera's motion detection gone), and the retained states it read that
// no entity of now reads.
func (c *conn) forgetStale(m message) {
	b := c.b
	if !m.retained || len(m.payload) == 0 {
		return
	}
	current := map[string]bool{} // the configs' topics and the states they read
	for _, name := range b.names {
		for _, d := range b.discovery(name) {
			current[d.topic] = true
			var fields map[string]any
			if json.Unmarshal(d.payload, &fields) == nil {
				for _, k := range stateKeys {
					if s, ok := fields[k].(string); ok {
						current[s] = true
					}
				}
			}
		}
	}
	if current[m.topic] {
		return
	}
	b.log.Info("mqtt: removing a Home Assistant entity camrec no longer has", "topic", m.topic)
	_ = c.publish(m.topic, true, nil)
	var stale map[string]any
	if json.Unmarshal(m.payload, &stale) != nil {
		return
	}
	for _, k := range stateKeys {
		if s, ok := stale[k].(string); ok && strings.HasPrefix(s, b.topics.prefix+"/") && !current[s] {
			_ = c.publish(s, true, nil)
			delete(c.last, s)
		}
	}
}
