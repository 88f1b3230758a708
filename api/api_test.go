package api

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/record"
	"github.com/camrec/camrec/pipeline/store"
)

// TestErrors checks every kind of bad request: its status code and that the
// body is JSON {"error": "..."} saying what went wrong.
func TestErrors(t *testing.T) {
	e := newEnv(t, envConfig{cams: []camSpec{
		{name: "cam0", run: true},
		{name: "nofr"}, // never delivers a frame
		{name: "noff", run: true, missing: true},
		{name: "norec", run: true, noRecorder: true},
	}})
	const rec = "/api/v1/cameras/cam0/recording"
	tests := []struct {
		name, method, path, body string
		want                     int
		wantErr                  string // substring of the error text
	}{
		{"malformed body", "PUT", rec, `{"active":`, 400, "invalid JSON"},
		{"not JSON", "PUT", rec, `active=true`, 400, "invalid JSON"},
		{"unknown field", "PUT", rec, `{"active":true,"mode":"fast"}`, 400, `unknown field "mode"`},
		{"wrong type string", "PUT", rec, `{"active":"yes"}`, 400, "cannot unmarshal string"},
		{"wrong type number", "POST", rec, `{"active":1}`, 400, "cannot unmarshal number"},
		{"array body", "PUT", rec, `[true]`, 400, "cannot unmarshal array"},
		{"missing active", "PUT", rec, `{}`, 400, `"active" is required`},
		{"null body", "PUT", rec, `null`, 400, `"active" is required`},
		{"active null", "PUT", rec, `{"active":null}`, 400, `"active" is required`},
		{"empty body", "PUT", rec, ``, 400, "empty request body"},
		{"trailing object", "PUT", rec, `{"active":true} {"active":false}`, 400, "unexpected data"},
		{"trailing garbage", "PUT", rec, `{"active":true}x`, 400, "unexpected data"},
		{"body too large", "PUT", rec, `{"active":true,"pad":"` + strings.Repeat("x", 5000) + `"}`, 413, "larger than 4096"},
		{"whitespace too large", "PUT", rec, `{"active":true}` + strings.Repeat(" ", 5000), 413, "larger than 4096"},

		{"unknown camera status", "GET", "/api/v1/cameras/nope", "", 404, `camera "nope": not found`},
		{"unknown camera recording", "PUT", "/api/v1/cameras/nope/recording", `{"active":true}`, 404, `camera "nope"`},
		{"unknown camera stream", "GET", "/api/v1/cameras/nope/stream.mjpg", "", 404, `camera "nope"`},
		{"unknown camera snapshot", "GET", "/api/v1/cameras/nope/snapshot.jpg", "", 404, `camera "nope"`},
		{"unknown camera in recordings", "GET", "/api/v1/recordings?camera=nope", "", 404, `camera "nope"`},

		{"unknown recording", "GET", "/api/v1/recordings/cam0-19990101-000000", "", 404, "not found"},
		{"unknown recording file", "GET", "/api/v1/recordings/cam0-19990101-000000/file", "", 404, "not found"},
		{"unknown recording delete", "DELETE", "/api/v1/recordings/cam0-19990101-000000", "", 404, "not found"},

		{"path trick encoded slashes", "GET", "/api/v1/recordings/..%2f..%2f..%2fetc%2fpasswd", "", 404, ""},
		{"path trick encoded slashes file", "GET", "/api/v1/recordings/..%2f..%2fetc%2fpasswd/file", "", 404, ""},
		{"path trick encoded dots", "GET", "/api/v1/recordings/%2e%2e/file", "", 404, "not found"},
		{"path trick encoded dots and slash", "GET", "/api/v1/recordings/%2e%2e%2f%2e%2e%2fetc%2fpasswd/file", "", 404, ""},
		{"path trick dot dot", "GET", "/api/v1/recordings/../../../etc/passwd", "", 404, ""},
		{"path trick backslash", "GET", "/api/v1/recordings/..%5c..%5cetc%5cpasswd/file", "", 404, "not found"},
		{"path trick hidden", "GET", "/api/v1/recordings/.cam0-20260301-120000.mp4/file", "", 404, "not found"},
		{"path trick dots in id", "GET", "/api/v1/recordings/cam0..%2fcam0-20260301-120000.mp4/file", "", 404, ""},
		{"path trick NUL", "GET", "/api/v1/recordings/cam0-20260301-120000.mp4%00.mp4/file", "", 404, "not found"},
		{"path trick delete", "DELETE", "/api/v1/recordings/%2e%2e", "", 404, "not found"},
		{"static escape", "GET", "/static/..%2f..%2fgo.mod", "", 404, ""},

		{"delete while recording", "DELETE", "/api/v1/recordings/cam1-20260301-120300.mp4", "", 409, "being written"},
		{"ffmpeg missing", "PUT", "/api/v1/cameras/noff/recording", `{"active":true}`, 503, ffmpegMissingText},
		{"recording not configured", "PUT", "/api/v1/cameras/norec/recording", `{"active":true}`, 503, "recording is not configured"},
		{"snapshot before first frame", "GET", "/api/v1/cameras/nofr/snapshot.jpg", "", 503, `camera "nofr" has no frame yet`},

		{"fps zero", "GET", "/api/v1/cameras/cam0/stream.mjpg?fps=0", "", 400, "fps must be"},
		{"fps negative", "GET", "/api/v1/cameras/cam0/stream.mjpg?fps=-5", "", 400, "fps must be"},
		{"fps too high", "GET", "/api/v1/cameras/cam0/stream.mjpg?fps=121", "", 400, "from 0.01 to 120"},
		{"fps tiny", "GET", "/api/v1/cameras/cam0/stream.mjpg?fps=1e-300", "", 400, "fps must be"},
		{"fps not a number", "GET", "/api/v1/cameras/cam0/stream.mjpg?fps=fast", "", 400, `got "fast"`},
		{"fps NaN", "GET", "/api/v1/cameras/cam0/stream.mjpg?fps=NaN", "", 400, "fps must be"},
		{"fps Inf", "GET", "/stream.mjpg?fps=Inf", "", 400, "fps must be"},

		{"unknown api route", "GET", "/api/v1/nope", "", 404, "no such endpoint"},
		{"unknown route", "GET", "/nope", "", 404, "no such endpoint"},
		{"wrong method", "DELETE", "/api/v1/cameras", "", 405, "method DELETE not allowed"},
		{"wrong method on recording", "PATCH", rec, `{"active":true}`, 405, "not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(tc.method, tc.path, tc.body)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.want, b)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type %q, want application/json; body %s", ct, b)
			}
			var body map[string]any
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			msg, _ := body["error"].(string)
			if msg == "" || len(body) != 1 {
				t.Fatalf(`body %s, want exactly {"error": "..."}`, b)
			}
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", msg, tc.wantErr)
			}
		})
	}

	t.Run("405 lists allowed methods", func(t *testing.T) {
		resp := e.do("DELETE", rec, "")
		resp.Body.Close()
		if got := resp.Header.Get("Allow"); got != "GET, HEAD, POST, PUT" {
			t.Errorf("Allow %q", got)
		}
	})
	t.Run("JSON endpoints want application/json", func(t *testing.T) {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/jsonx"} {
			resp := e.do("PUT", rec, `{"active":true}`, "Content-Type", ct)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(b), "application/json") {
				t.Errorf("Content-Type %q: %d %s, want 415", ct, resp.StatusCode, b)
			}
		}
		if e.recs["cam0"].calls() != 0 {
			t.Errorf("recorder was switched %d times by refused requests", e.recs["cam0"].calls())
		}
		resp := e.do("PUT", rec, `{"active":false}`, "Content-Type", "application/json; charset=utf-8")
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("application/json; charset=utf-8: %d", resp.StatusCode)
		}
	})
	t.Run("catalog never sees an id that escapes", func(t *testing.T) {
		for _, id := range e.catalog.askedIDs() {
			if strings.ContainsAny(id, `/\`) || strings.Contains(id, "..") || strings.HasPrefix(id, ".") {
				t.Errorf("catalog was asked for %q", id)
			}
		}
	})
	t.Run("failed switches leave recording off", func(t *testing.T) {
		var st record.RecordingStatus
		e.doJSON("GET", "/api/v1/cameras/noff/recording", "", 200, &st)
		if st.Active || !strings.Contains(st.Error, "ffmpeg not found") {
			t.Errorf("status %+v, want inactive with the ffmpeg error", st)
		}
	})
}

func TestCameras(t *testing.T) {
	e := newEnv(t, envConfig{cams: []camSpec{{name: "cam0", run: true}, {name: "cam1"}}})

	var list []CameraBody
	e.doJSON("GET", "/api/v1/cameras", "", 200, &list)
	if names := []string{list[0].Name, list[1].Name}; len(list) != 2 || !slices.Equal(names, []string{"cam0", "cam1"}) {
		t.Fatalf("cameras %+v, want cam0, cam1 in order", list)
	}

	// The raw JSON has the camera fields and a recording object side by side.
	var raw map[string]any
	e.doJSON("GET", "/api/v1/cameras/cam0", "", 200, &raw)
	for _, k := range []string{"name", "device", "state", "error", "format", "width", "height", "fps_target", "fps_measured", "frames", "frames_invalid", "clients", "recording"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("camera status lacks %q: %v", k, raw)
		}
	}
	recObj, ok := raw["recording"].(map[string]any)
	if !ok {
		t.Fatalf("recording is %T, want an object", raw["recording"])
	}
	if _, ok := recObj["active"].(bool); !ok {
		t.Errorf("recording.active is %T, want bool", recObj["active"])
	}

	var st CameraBody
	e.doJSON("GET", "/api/v1/cameras/cam0", "", 200, &st)
	if st.Name != "cam0" || st.State != pipeline.StateStreaming || st.Width != 320 || st.Height != 240 || st.Format != "mjpeg" || st.Frames == 0 {
		t.Errorf("cam0 status %+v", st)
	}
	e.doJSON("GET", "/api/v1/cameras/cam1", "", 200, &st)
	if st.State != pipeline.StateStarting || st.Frames != 0 {
		t.Errorf("cam1 status %+v, want starting without frames", st)
	}

	var v map[string]string
	e.doJSON("GET", "/api/v1/version", "", 200, &v)
	if v["version"] != "test" {
		t.Errorf("version %v", v)
	}
}

// TestRecordingSwitch drives the switch as Home Assistant's RESTful switch
// does: PUT/POST {"active": bool}, GET reads value_json.active.
func TestRecordingSwitch(t *testing.T) {
	e := newEnv(t, envConfig{})
	const url = "/api/v1/cameras/cam0/recording"
	steps := []struct {
		method, body string
		want         bool
	}{
		{"PUT", `{"active": true}`, true},
		{"PUT", `{"active": true}`, true}, // idempotent
		{"POST", `{"active": false}`, false},
		{"POST", ` {"active":true}` + "\n", true},
		{"PUT", `{"active":false}`, false},
	}
	for i, s := range steps {
		var got map[string]any
		e.doJSON(s.method, url, s.body, 200, &got)
		if got["active"] != s.want {
			t.Fatalf("step %d: %s %s answered %v, want active=%v", i, s.method, s.body, got, s.want)
		}
		e.doJSON("GET", url, "", 200, &got)
		if got["active"] != s.want {
			t.Fatalf("step %d: GET answered %v, want active=%v", i, got, s.want)
		}
		var cam CameraBody
		e.doJSON("GET", "/api/v1/cameras/cam0", "", 200, &cam)
		if cam.Recording.Active != s.want {
			t.Fatalf("step %d: camera status recording %+v", i, cam.Recording)
		}
		if s.want && (cam.Recording.ID == "" || cam.Recording.StartedAt == nil) {
			t.Fatalf("step %d: active recording without id or start: %+v", i, cam.Recording)
		}
	}
	// The other camera was not touched.
	var other record.RecordingStatus
	e.doJSON("GET", "/api/v1/cameras/cam1/recording", "", 200, &other)
	if other.Active {
		t.Error("cam1 is recording")
	}
}

func TestRecordings(t *testing.T) {
	e := newEnv(t, envConfig{})

	var all []store.Recording
	e.doJSON("GET", "/api/v1/recordings", "", 200, &all)
	ids := func(rs []store.Recording) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	want := []string{"cam1-20260301-120300.mp4", "cam0-20260301-120200.mkv", "cam0-20260301-120000.mp4"}
	if !slices.Equal(ids(all), want) {
		t.Fatalf("recordings %v, want %v (newest first)", ids(all), want)
	}
	var cam0 []store.Recording
	e.doJSON("GET", "/api/v1/recordings?camera=cam0", "", 200, &cam0)
	if !slices.Equal(ids(cam0), want[1:]) {
		t.Fatalf("cam0 recordings %v", ids(cam0))
	}

	// A camera without recordings gets [], not null.
	e2 := newEnv(t, envConfig{cams: []camSpec{{name: "empty"}}})
	resp := e2.do("GET", "/api/v1/recordings?camera=empty", "")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("empty list is %s, want []", b)
	}

	var one RecordingBody
	e.doJSON("GET", "/api/v1/recordings/cam0-20260301-120000.mp4", "", 200, &one)
	if one.ID != "cam0-20260301-120000.mp4" || one.FileURL != "/api/v1/recordings/cam0-20260301-120000.mp4/file" {
		t.Errorf("recording %+v", one)
	}

	clip := readFile(t, "testdata/clip.mp4")
	files := []struct {
		name, path, rangeHdr string
		want                 int
		wantType, wantDisp   string
		wantBody             []byte
	}{
		{"whole mp4", "/api/v1/recordings/cam0-20260301-120000.mp4/file", "", 200, "video/mp4", "", clip},
		{"range", "/api/v1/recordings/cam0-20260301-120000.mp4/file", "bytes=100-199", 206, "video/mp4", "", clip[100:200]},
		{"open range", "/api/v1/recordings/cam0-20260301-120000.mp4/file", "bytes=5000-", 206, "video/mp4", "", clip[5000:]},
		{"download", "/api/v1/recordings/cam0-20260301-120000.mp4/file?download=1", "", 200, "video/mp4",
			`attachment; filename=cam0-20260301-120000.mp4`, clip},
		{"mkv", "/api/v1/recordings/cam0-20260301-120200.mkv/file", "bytes=0-0", 206, "video/x-matroska", "", readFile(t, "testdata/clip.mkv")[:1]},
	}
	for _, tc := range files {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.rangeHdr != "" {
				hdr = []string{"Range", tc.rangeHdr}
			}
			resp := e.do("GET", tc.path, "", hdr...)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type %q, want %q", got, tc.wantType)
			}
			if got := resp.Header.Get("Content-Disposition"); got != tc.wantDisp {
				t.Errorf("Content-Disposition %q, want %q", got, tc.wantDisp)
			}
			if resp.Header.Get("Accept-Ranges") != "bytes" {
				t.Errorf("Accept-Ranges %q", resp.Header.Get("Accept-Ranges"))
			}
			if !slices.Equal(body, tc.wantBody) {
				t.Errorf("body: %d bytes, want %d", len(body), len(tc.wantBody))
			}
		})
	}

	// HEAD tells the size without the body.
	resp = e.do("HEAD", "/api/v1/recordings/cam0-20260301-120000.mp4/file", "")
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(clip)) {
		t.Errorf("HEAD: %d, Content-Length %d, want 200, %d", resp.StatusCode, resp.ContentLength, len(clip))
	}

	// Delete: 204, then it is gone from the list, by id and on disk.
	resp = e.do("DELETE", "/api/v1/recordings/cam0-20260301-120000.mp4", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: status %d", resp.StatusCode)
	}
	e.doJSON("GET", "/api/v1/recordings/cam0-20260301-120000.mp4", "", 404, nil)
	e.doJSON("GET", "/api/v1/recordings/cam0-20260301-120000.mp4/file", "", 404, nil)
	e.doJSON("GET", "/api/v1/recordings", "", 200, &all)
	if !slices.Equal(ids(all), want[:2]) {
		t.Errorf("after delete: %v", ids(all))
	}
}

func TestHealthz(t *testing.T) {
	tests := []struct {
		name       string
		cams       []camSpec
		want       int
		wantStatus string
		wantBad    map[string]string
	}{
		{"all streaming", []camSpec{{name: "cam0", run: true}, {name: "cam1", run: true}}, 200, "ok", nil},
		{"one never started", []camSpec{{name: "cam0", run: true}, {name: "cam1"}}, 503, "unhealthy", map[string]string{"cam1": "starting"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{cams: tc.cams})
			var body healthBody
			e.doJSON("GET", "/healthz", "", tc.want, &body)
			if body.Status != tc.wantStatus || len(body.Cameras) != len(tc.wantBad) {
				t.Fatalf("body %+v", body)
			}
			for k, v := range tc.wantBad {
				if body.Cameras[k] != v {
					t.Errorf("cameras[%s] = %q, want %q", k, body.Cameras[k], v)
				}
			}
			if tc.want != 200 && !strings.Contains(body.Error, "not streaming: cam1 (starting)") {
				t.Errorf("error %q does not name the camera", body.Error)
			}
		})
	}
}

func TestPage(t *testing.T) {
	e := newEnv(t, envConfig{cams: []camSpec{{name: "cam0"}}})
	tests := []struct {
		path, wantType, wantText string
	}{
		{"/", "text/html; charset=utf-8", `<script src="/static/app.js"`},
		{"/static/app.js", "text/javascript; charset=utf-8", "/api/v1/cameras"},
		{"/static/style.css", "text/css; charset=utf-8", "prefers-color-scheme"},
	}
	for _, tc := range tests {
		resp := e.do("GET", tc.path, "")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.wantType || !strings.Contains(string(b), tc.wantText) {
			t.Errorf("GET %s: %d %q, %d bytes", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
		}
	}
	e.doJSON("GET", "/static/nope.js", "", 404, nil)
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEveryRouteHasAnAccessRule: the guard denies a route without a rule,
// so every registered route must have one, and only the login form, the
// page's assets and /healthz may be public.
func TestEveryRouteHasAnAccessRule(t *testing.T) {
	srv := New(Config{Catalog: newFakeCatalog(t)})
	publicOK := map[string]bool{
		"GET /login": true, "HEAD /login": true, "POST /login": true, "POST /logout": true,
		"GET /static/*file": true, "HEAD /static/*file": true, "GET /healthz": true, "HEAD /healthz": true,
	}
	routes := srv.engine.Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		ru, ok := srv.rules[key]
		if !ok {
			t.Errorf("%s has no access rule", key)
			continue
		}
		if ru.need == accessPublic && !publicOK[key] {
			t.Errorf("%s is public", key)
		}
		if ru.need != accessPublic && publicOK[key] {
			t.Errorf("%s should be public", key)
		}
		if ru.queryToken && (r.Method != "GET" && r.Method != "HEAD" || !strings.HasSuffix(r.Path, "stream.mjpg") && !strings.HasSuffix(r.Path, "snapshot.jpg")) {
			t.Errorf("%s accepts ?token=", key)
		}
		write := r.Method != "GET" && r.Method != "HEAD"
		if write && ru.need != accessOperator && !publicOK[key] {
			t.Errorf("%s changes state but needs only %v", key, ru.need)
		}
	}
	if len(srv.rules) != len(routes) {
		t.Errorf("%d rules for %d routes", len(srv.rules), len(routes))
	}
}
