package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestMotionAccess: with users, motion detection on both test cameras
// (whose clocks move all the time, so each soon has an event): a token
// limited to the garage sees only the garage's events and snapshots (the
// other camera's answer 404, as if they did not exist); a viewer lists and
// fetches but cannot arm, disarm, draw or delete (403); a viewer's token
// works in ?token= on a snapshot, not on the list; no credentials, 401;
// an operator disarms.
func TestMotionAccess(t *testing.T) {
	d := startSecured(t, "-motion")
	op := bearerCred("operator token", d.OperatorToken)
	viewer := bearerCred("viewer token", d.ViewerToken)
	garage := bearerCred("garage-only token", d.GarageToken)
	type event struct {
		ID          string `json:"id"`
		Camera      string `json:"camera"`
		SnapshotURL string `json:"snapshot_url"`
	}
	list := func(c cred, query string) (int, []event) {
		code, _, b := d.request(t, "GET", "/api/v1/motion-events"+query, "", c)
		var body struct{ Events []event }
		_ = json.Unmarshal(b, &body)
		return code, body.Events
	}
	byCam := map[string]event{}
	waitFor(t, 30*time.Second, "an event with a snapshot on each camera", func() bool {
		_, evs := list(op, "")
		for _, e := range evs {
			if e.SnapshotURL != "" {
				byCam[e.Camera] = e
			}
		}
		return len(byCam) == 2
	})
	cam0, gar := byCam["cam0"], byCam["garage"]

	code, evs := list(garage, "")
	for _, e := range evs {
		if e.Camera != "garage" {
			t.Errorf("the garage-only token lists %s's event %s", e.Camera, e.ID)
		}
	}
	if code != 200 || len(evs) == 0 {
		t.Errorf("the garage-only token: %d, %d events", code, len(evs))
	}
	for _, tc := range []struct {
		method, path, body string
		c                  cred
		want               int
	}{
		{"GET", "/api/v1/motion-events/" + cam0.ID, "", garage, 404},
		{"GET", cam0.SnapshotURL, "", garage, 404},
		{"GET", "/api/v1/motion-events?camera=cam0", "", garage, 404},
		{"GET", gar.SnapshotURL, "", garage, 200},
		{"GET", cam0.SnapshotURL, "", viewer, 200},
		{"GET", cam0.SnapshotURL + "?token=" + d.ViewerToken, "", cred{name: "none"}, 200},
		{"GET", "/api/v1/motion-events?token=" + d.ViewerToken, "", cred{name: "none"}, 401},
		{"GET", "/api/v1/motion-events", "", cred{name: "none"}, 401},
		{"GET", cam0.SnapshotURL, "", cred{name: "none"}, 401},
		{"PUT", "/api/v1/cameras/cam0/motion", `{"armed": false}`, viewer, 403},
		{"PUT", "/api/v1/cameras/cam0/motion", `{"masks": []}`, viewer, 403},
		{"PUT", "/api/v1/cameras/cam0/motion", `{"armed": false}`, garage, 404},
		{"DELETE", "/api/v1/motion-events/" + gar.ID, "", viewer, 403},
		{"PUT", "/api/v1/cameras/cam0/motion", `{"armed": false}`, op, 200},
	} {
		code, _, b := d.request(t, tc.method, tc.path, tc.body, tc.c)
		if code != tc.want {
			t.Errorf("%s %s as %s: %d %s, want %d", tc.method, strings.Replace(tc.path, d.ViewerToken, "TOKEN", 1), tc.c.name, code, b, tc.want)
		}
	}
	_, _, b := d.request(t, "GET", "/api/v1/cameras/cam0/motion", "", viewer)
	var m struct {
		Armed   bool   `json:"armed"`
		ArmedBy string `json:"armed_by"`
	}
	if json.Unmarshal(b, &m) != nil || m.Armed || m.ArmedBy != "user" {
		t.Errorf("after the operator's disarm: %s", b)
	}
	if strings.Contains(d.Log(), d.ViewerToken) || strings.Contains(d.Log(), d.OperatorToken) {
		t.Error("the log holds a token")
	}
}
