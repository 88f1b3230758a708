package mqtt

import (
	"regexp"
	"strings"
)

// The payloads camrec uses, Home Assistant's defaults.
const (
	payloadOnline  = "online"
	payloadOffline = "offline"
	payloadOn      = "ON"
	payloadOff     = "OFF"
	// payloadSchedule, on the armed command topic, gives arming back to
	// the camera's schedule (always armed without one).
	payloadSchedule = "SCHEDULE"
)

// topics names every topic of one camrec instance:
//
//	<prefix>/status                         online | offline (retained; the will)
//	<prefix>/<cam>/state                    the camera's state (retained)
//	<prefix>/<cam>/recording                ON | OFF (retained)
//	<prefix>/<cam>/attributes               JSON (retained)
//	<prefix>/<cam>/event                    JSON events (not retained)
//	<prefix>/<cam>/snapshot                 a JPEG, after a snapshot command
//	<prefix>/<cam>/recording/set            ON | OFF (commands)
//	<prefix>/<cam>/snapshot/set             any payload (commands)
//	<prefix>/<cam>/motion                   ON | OFF: a motion event is open (retained)
//	<prefix>/<cam>/zone/<zone>              ON | OFF: the open event moved in zone (retained)
//	<prefix>/<cam>/armed                    ON | OFF: motion detection armed (retained)
//	<prefix>/<cam>/motion_attributes        JSON: the motion detection's state (retained)
//	<prefix>/<cam>/motion_snapshot          the last motion event's JPEG (retained)
//	<prefix>/<cam>/motion_score             the motion score, % (retained; at most every 5 s)
//	<prefix>/<cam>/armed/set                ON | OFF | SCHEDULE (commands)
//	<discovery>/<component>/<node>/<cam>_<what>/config   Home Assistant discovery
type topics struct {
	prefix, discovery, node string
}

func (t topics) availability() string           { return t.prefix + "/status" }
func (t topics) camera(cam, what string) string { return t.prefix + "/" + cam + "/" + what }
func (t topics) command(cam, what string) string {
	return t.prefix + "/" + cam + "/" + what + "/set"
}
func (t topics) zone(cam, zone string) string { return t.prefix + "/" + cam + "/zone/" + zone }
func (t topics) haStatus() string             { return t.discovery + "/status" }
func (t topics) discoveryConfig(component, cam, what string) string {
	return t.discovery + "/" + component + "/" + t.node + "/" + cam + "_" + what + "/config"
}
func (t topics) discoveryFilter() string { return t.discovery + "/+/" + t.node + "/+/config" }

// isDiscoveryConfig reports whether topic is one of this node's discovery
// configs.
func (t topics) isDiscoveryConfig(topic string) bool {
	if t.discovery == "" {
		return false
	}
	rest, ok := strings.CutPrefix(topic, t.discovery+"/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	return len(parts) == 4 && parts[1] == t.node && parts[3] == "config"
}

// parseCommand splits <prefix>/<cam>/<what>/set.
func (t topics) parseCommand(topic string) (cam, what string, ok bool) {
	rest, ok := strings.CutPrefix(topic, t.prefix+"/")
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[2] != "set" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

var unsafeID = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// nodeID is the client id as Home Assistant's discovery topics and unique
// ids accept it.
func nodeID(clientID string) string { return unsafeID.ReplaceAllString(clientID, "_") }
