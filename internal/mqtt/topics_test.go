package mqtt

import "testing"

func TestTopics(t *testing.T) {
	tp := topics{prefix: "home/camrec", discovery: "homeassistant", node: nodeID("camrec-pi.lan")}
	if tp.node != "camrec-pi_lan" {
		t.Errorf("node %q", tp.node)
	}
	for _, tc := range []struct {
		topic     string
		cam, what string
		ok        bool
	}{
		{"home/camrec/garage/recording/set", "garage", "recording", true},
		{"home/camrec/back_door/snapshot/set", "back_door", "snapshot", true},
		{"home/camrec/back_door/armed/set", "back_door", "armed", true},
		{"home/camrec/garage/zone/road", "", "", false},
		{"home/camrec/garage/recording", "", "", false},
		{"home/camrec/garage/x/recording/set", "", "", false},
		{"camrec/garage/recording/set", "", "", false},
	} {
		cam, what, ok := tp.parseCommand(tc.topic)
		if cam != tc.cam || what != tc.what || ok != tc.ok {
			t.Errorf("parseCommand(%q) = %q %q %v", tc.topic, cam, what, ok)
		}
	}
	for topic, want := range map[string]bool{
		tp.discoveryConfig("switch", "garage", "recording"):       true,
		"homeassistant/switch/other-node/garage_recording/config": false,
		"homeassistant/status":                                    false,
		"homeassistant/switch/camrec-pi_lan/garage/x/config":      false,
	} {
		if got := tp.isDiscoveryConfig(topic); got != want {
			t.Errorf("isDiscoveryConfig(%q) = %v", topic, got)
		}
	}
	if got := tp.zone("garage", "road"); got != "home/camrec/garage/zone/road" {
		t.Errorf("zone topic %q", got)
	}
	off := topics{prefix: "camrec", node: "n"}
	if off.isDiscoveryConfig("homeassistant/switch/n/a_recording/config") {
		t.Error("discovery off still matches configs")
	}
}
