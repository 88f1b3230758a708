package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/v4l2"
)

// fakePanel is a camera's controls as pipeline.Controls reports them: one
// integer control, brightness 0..255, and the sentinel errors it returns.
type fakePanel struct {
	mu           sync.Mutex
	value        int64
	disconnected bool
	asked        []string // "target=value" as Set received them
}

func (p *fakePanel) control() pipeline.Control {
	return pipeline.Control{ID: 0x980900, Name: "Brightness", Key: "brightness", Type: v4l2.TypeInteger,
		Min: 0, Max: 255, Step: 1, Default: 128, Value: p.value, Flags: []string{v4l2.FlagSlider}}
}

func (p *fakePanel) List(ctx context.Context) ([]pipeline.Control, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disconnected {
		return nil, fmt.Errorf("camera \"cam0\": list controls: camera not connected: %w", defs.ErrUnavailable)
	}
	return []pipeline.Control{p.control()}, nil
}

func (p *fakePanel) Set(ctx context.Context, target string, value int64) (pipeline.Control, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, fmt.Sprintf("%s=%d", target, value))
	switch {
	case p.disconnected:
		return pipeline.Control{}, fmt.Errorf("camera \"cam0\": camera not connected: %w", defs.ErrUnavailable)
	case target != "brightness" && target != "Brightness" && target != "9963776":
		return pipeline.Control{}, fmt.Errorf("camera \"cam0\": no control %q: %w", target, defs.ErrNotFound)
	case value < 0 || value > 255:
		return pipeline.Control{}, fmt.Errorf("camera \"cam0\": %w value for brightness: %d is outside 0..255", defs.ErrInvalid, value)
	}
	p.value = value
	return p.control(), nil
}

func TestControlsAPI(t *testing.T) {
	panel := &fakePanel{value: 128}
	cams := []Camera{
		{View: pipeline.NewCamera(pipeline.CameraConfig{Name: "cam0", Device: "/dev/video0"}, nil, slog.New(slog.DiscardHandler)), Controls: panel},
		{View: pipeline.NewCamera(pipeline.CameraConfig{Name: "test0", Device: "test:"}, nil, slog.New(slog.DiscardHandler))},
	}
	srv := httptest.NewServer(New(Config{Cameras: cams}).Handler())
	defer srv.Close()
	const url = "/api/v1/cameras/cam0/controls"

	cases := []struct {
		name, method, path, body string
		disconnected             bool
		want                     int
		wantBody                 string // substring of the body
		wantAsked                string // what Set received; "" = not called
	}{
		{"list", "GET", url, "", false, 200, `[{"id":9963776,"name":"Brightness","key":"brightness","type":"integer","min":0,"max":255,"step":1,"default":128,"value":128,"flags":["slider"]}]`, ""},
		{"set by name", "PUT", url, `{"name":"brightness","value":200}`, false, 200, `"key":"brightness","type":"integer","min":0,"max":255,"step":1,"default":128,"value":200,`, "brightness=200"},
		{"set says it is volatile", "PUT", url, `{"name":"brightness","value":201}`, false, 200, `"flags":["slider"],"volatile":true}`, "brightness=201"},
		{"set by driver name", "PUT", url, `{"name":"Brightness","value":0}`, false, 200, `"value":0,`, "Brightness=0"},
		{"set by id", "PUT", url, `{"id":9963776,"value":255}`, false, 200, `"value":255,`, "9963776=255"},
		{"out of range", "PUT", url, `{"name":"brightness","value":256}`, false, 400, `{"error":"camera \"cam0\": invalid value for brightness: 256 is outside 0..255"}`, "brightness=256"},
		{"unknown control", "PUT", url, `{"name":"zoom","value":1}`, false, 404, `no control \"zoom\"`, "zoom=1"},
		{"not connected list", "GET", url, "", true, 503, "camera not connected", ""},
		{"not connected set", "PUT", url, `{"name":"brightness","value":1}`, true, 503, "camera not connected", "brightness=1"},
		{"value not integer", "PUT", url, `{"name":"brightness","value":1.5}`, false, 400, "cannot unmarshal number 1.5", ""},
		{"value a string", "PUT", url, `{"name":"brightness","value":"high"}`, false, 400, "cannot unmarshal string", ""},
		{"name a number", "PUT", url, `{"name":9963776,"value":1}`, false, 400, "cannot unmarshal number", ""},
		{"negative id", "PUT", url, `{"id":-1,"value":1}`, false, 400, "cannot unmarshal number -1", ""},
		{"unknown field", "PUT", url, `{"name":"brightness","value":1,"force":true}`, false, 400, `unknown field \"force\"`, ""},
		{"map form is not accepted", "PUT", url, `{"brightness":1}`, false, 400, `unknown field \"brightness\"`, ""},
		{"no value", "PUT", url, `{"name":"brightness"}`, false, 400, `field \"value\" is required`, ""},
		{"no target", "PUT", url, `{"value":1}`, false, 400, `field \"name\" or \"id\" is required`, ""},
		{"empty name", "PUT", url, `{"name":"","value":1}`, false, 400, `field \"name\" or \"id\" is required`, ""},
		{"name and id", "PUT", url, `{"name":"brightness","id":9963776,"value":1}`, false, 400, `not both`, ""},
		{"empty body", "PUT", url, ``, false, 400, "empty request body", ""},
		{"camera without controls", "GET", "/api/v1/cameras/test0/controls", "", false, 404, `{"error":"camera \"test0\" has no controls (not a V4L2 device): not found"}`, ""},
		{"camera without controls set", "PUT", "/api/v1/cameras/test0/controls", `{"name":"brightness","value":1}`, false, 404, "has no controls", ""},
		{"unknown camera", "GET", "/api/v1/cameras/nope/controls", "", false, 404, `camera \"nope\": not found`, ""},
		{"POST not allowed", "POST", url, `{"name":"brightness","value":1}`, false, 405, "not allowed", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			panel.mu.Lock()
			panel.disconnected, panel.asked = tc.disconnected, nil
			panel.mu.Unlock()
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("%s %s %s: %d %s\nwant %d with %s", tc.method, tc.path, tc.body, resp.StatusCode, body, tc.want, tc.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			if !json.Valid(body) {
				t.Errorf("body is not JSON: %s", body)
			}
			panel.mu.Lock()
			asked := strings.Join(panel.asked, " ")
			panel.mu.Unlock()
			if asked != tc.wantAsked {
				t.Errorf("Set received %q, want %q", asked, tc.wantAsked)
			}
		})
	}
}
