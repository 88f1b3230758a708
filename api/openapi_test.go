package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/camrec/camrec/internal/apicontract"
	"github.com/camrec/camrec/internal/events"
)

// openAPIDoc is api/openapi.json decoded just enough to walk its
// operations.
type openAPIDoc struct {
	OpenAPI  string                                `json:"openapi"`
	Security []map[string][]string                 `json:"security"`
	Paths    map[string]map[string]json.RawMessage `json:"paths"`
}

type openAPIOperation struct {
	OperationID string                 `json:"operationId"`
	Role        string                 `json:"x-camrec-role"`
	Security    *[]map[string][]string `json:"security"`
}

func decodeOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("api/openapi.json: %v", err)
	}
	return doc
}

// ginParam matches gin's :name and *name path parameters.
var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// allRoutesServer is a Server with every optional route (metrics, events).
func allRoutesServer(t *testing.T) *Server {
	return New(Config{
		Catalog: newFakeCatalog(t),
		Metrics: http.NotFoundHandler(),
		Events:  events.NewBus(4),
	})
}

// TestOpenAPIMatchesRoutes: every route gin registers is an operation of
// api/openapi.json with the same method and path template, every
// operation is a registered route, and each operation's x-camrec-role and
// security say what the route's access rule does.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	srv := allRoutesServer(t)
	doc := decodeOpenAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	registered := map[string]bool{}
	for _, r := range srv.engine.Routes() {
		registered[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	documented := map[string]bool{}
	opIDs := map[string]string{}
	for p, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			key := strings.ToUpper(method) + " " + p
			documented[key] = true
			var op openAPIOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Errorf("%s: %v", key, err)
				continue
			}
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", key)
			} else if other, dup := opIDs[op.OperationID]; dup {
				t.Errorf("%s and %s share the operationId %s", key, other, op.OperationID)
			}
			opIDs[op.OperationID] = key
			ginPath := strings.NewReplacer("{cam}", ":cam", "{id}", ":id", "{file}", "*file").Replace(p)
			ru, ok := srv.rules[strings.ToUpper(method)+" "+ginPath]
			if !ok {
				continue // reported below as not registered
			}
			want := map[access]string{accessPublic: "public", accessViewer: "viewer", accessOperator: "operator"}[ru.need]
			if op.Role != want {
				t.Errorf("%s: x-camrec-role %q, but the route needs %s", key, op.Role, want)
			}
			sec := doc.Security
			if op.Security != nil {
				sec = *op.Security
			}
			var schemes []string
			optional := false
			for _, s := range sec {
				if len(s) == 0 {
					optional = true
				}
				for name := range s {
					schemes = append(schemes, name)
				}
			}
			slices.Sort(schemes)
			switch {
			case ru.need == accessPublic && ru.identify && (!optional || !slices.Contains(schemes, "basicAuth")):
				t.Errorf("%s is public and checks credentials sent, but the document's security is %v (want {} and the schemes)", key, sec)
			case ru.need == accessPublic && !ru.identify && len(schemes) != 0:
				t.Errorf("%s is public but the document asks for %v", key, schemes)
			case ru.need != accessPublic && !slices.Contains(schemes, "basicAuth"):
				t.Errorf("%s needs credentials but the document asks for %v", key, schemes)
			case ru.queryToken != slices.Contains(schemes, "tokenQuery"):
				t.Errorf("%s: ?token= accepted %v, but the document's schemes are %v", key, ru.queryToken, schemes)
			}
		}
	}
	for k := range registered {
		if !documented[k] {
			t.Errorf("route %s is not in api/openapi.json", k)
		}
	}
	for k := range documented {
		if !registered[k] {
			t.Errorf("api/openapi.json has %s, which is not a route", k)
		}
	}
	if len(registered) < 40 {
		t.Errorf("only %d routes registered", len(registered))
	}
}

// TestOpenAPIDocumentValid: the document is valid OpenAPI 3.1.
func TestOpenAPIDocumentValid(t *testing.T) {
	c, err := apicontract.New(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateDocument(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenAPIServed: GET /api/v1/openapi.json serves the document as JSON,
// and the answer passes the document itself.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, envConfig{})
	c, err := apicontract.New(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"GET", "HEAD"} {
		req, err := http.NewRequest(method, e.url+"/api/v1/openapi.json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: c.Transport(nil)}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q", method, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if method == "GET" && !bytes.Equal(b, OpenAPI()) {
			t.Errorf("GET serves %d bytes that are not api/openapi.json", len(b))
		}
	}
}

// TestContractRejectsWrongAnswers proves the check the end-to-end tests
// use bites: answers that break the document are errors that name the
// route, the status and the problem; the right answer passes.
func TestContractRejectsWrongAnswers(t *testing.T) {
	c, err := apicontract.New(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	status := `{"active":false,"id":"","started_at":null,"frames":0,"bytes":0,"dropped":0,"error":"","state":"idle",` +
		`"segment":0,"restarts":0,"retention_deleted":0,"start_latency_ms":0,"synced_at":null,"trigger":""}`
	camera := `{"name":"cam0","device":"test:","state":"streaming","error":"","format":"MJPEG","width":1280,"height":720,` +
		`"fps_target":30,"fps_measured":29.9,"frames":10,"frames_invalid":0,"frames_corrupt":0,"frames_encoded":0,"restarts":0,` +
		`"clients":0,"preview_frames_dropped":0,"clients_refused":0,"has_controls":false,"recording":` + status + `}`
	tests := []struct {
		name, method, path string
		code               int
		ctype, body        string
		wantErr            string // substring; "" means the answer is right
	}{
		{"right camera", "GET", "/api/v1/cameras/cam0", 200, "application/json; charset=utf-8", camera, ""},
		{"right error", "GET", "/api/v1/cameras/nope", 404, "application/json; charset=utf-8", `{"error":"camera \"nope\": not found"}`, ""},
		{"right HEAD", "HEAD", "/api/v1/cameras/cam0", 200, "application/json; charset=utf-8", "", ""},
		{"right stream", "GET", "/api/v1/cameras/cam0/stream.mjpg", 200, "multipart/x-mixed-replace; boundary=camrecframe", "--camrecframe\r\n", ""},
		{"unknown endpoint refused", "GET", "/api/v1/nope", 404, "application/json; charset=utf-8", `{"error":"no such endpoint: /api/v1/nope"}`, ""},

		{"camera missing a required field", "GET", "/api/v1/cameras/cam0", 200, "application/json",
			strings.Replace(camera, `"fps_target":30,`, "", 1), "fps_target"},
		{"camera field of the wrong type", "GET", "/api/v1/cameras/cam0", 200, "application/json",
			strings.Replace(camera, `"width":1280`, `"width":"1280"`, 1), "width"},
		{"null where the document has no null", "GET", "/api/v1/cameras/cam0", 200, "application/json",
			strings.Replace(camera, `"device":"test:"`, `"device":null`, 1), "device"},
		{"a state the document does not list", "GET", "/api/v1/cameras/cam0", 200, "application/json",
			strings.Replace(camera, `"state":"streaming"`, `"state":"sleeping"`, 1), "state"},
		{"an undocumented field", "GET", "/api/v1/cameras/cam0", 200, "application/json",
			strings.Replace(camera, `"name":"cam0",`, `"name":"cam0","secret":1,`, 1), "secret"},
		{"nested recording status broken", "GET", "/api/v1/cameras/cam0", 200, "application/json",
			strings.Replace(camera, `"started_at":null`, `"started_at":5`, 1), "started_at"},
		{"a time that is not a date-time", "GET", "/api/v1/cameras/cam0", 200, "application/json",
			strings.Replace(camera, `"started_at":null`, `"started_at":"soon"`, 1), "started_at"},
		{"an array where an object belongs", "GET", "/api/v1/cameras/cam0", 200, "application/json", "[" + camera + "]", "GET /api/v1/cameras/{cam}"},
		{"a status the operation does not list", "GET", "/api/v1/cameras/cam0", 409, "application/json", `{"error":"busy"}`, "409"},
		{"the wrong content type", "GET", "/api/v1/cameras/cam0/snapshot.jpg", 200, "image/png", "", "content type"},
		{"an error body of another shape", "GET", "/api/v1/cameras/nope", 404, "application/json", `{"message":"not found"}`, "message"},
		{"an unknown endpoint answered 200", "GET", "/api/v1/nope", 200, "application/json", `{}`, "no such operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://127.0.0.1"+tt.path, nil)
			resp := &http.Response{StatusCode: tt.code, Header: http.Header{"Content-Type": {tt.ctype}},
				Body: io.NopCloser(strings.NewReader(tt.body)), Request: req}
			err := c.CheckResponse(req, resp)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("a right answer is refused: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatal("a wrong answer passes")
			case err != nil && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), tt.method+" "+tt.path):
				t.Fatalf("error %q does not name the request", err)
			}
			if err != nil {
				t.Logf("%v", err)
			}
			if tt.method == "GET" && tt.ctype != "" && strings.HasPrefix(tt.ctype, "application/json") {
				b, _ := io.ReadAll(resp.Body)
				if string(b) != tt.body {
					t.Errorf("the body was not put back: %q", b)
				}
			}
		})
	}
}

// TestContractRejectsWrongEvents: the check of an event's data (the SSE
// stream's JSON, checked by the end-to-end tests) bites too.
func TestContractRejectsWrongEvents(t *testing.T) {
	c, err := apicontract.New(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, data, wantErr string }{
		{"right", `{"id":1,"type":"recording_started","time":"2026-12-02T06:31:43Z","camera":"cam0","recording_id":"cam0-20261202-063143.mp4","file_url":"/api/v1/recordings/cam0-20261202-063143.mp4/file"}`, ""},
		{"no camera", `{"id":1,"type":"camera_lost","time":"2026-12-02T06:31:43Z"}`, "camera"},
		{"unknown type", `{"id":1,"type":"exploded","time":"2026-12-02T06:31:43Z","camera":"cam0"}`, "type"},
		{"undocumented field", `{"id":1,"type":"camera_lost","time":"2026-12-02T06:31:43Z","camera":"cam0","path":"/srv/x.mp4"}`, "path"},
		{"not a time", `{"id":1,"type":"camera_lost","time":"yesterday","camera":"cam0"}`, "time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.CheckSchema("Event", []byte(tt.data))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatal("passes")
			case err != nil && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
}

// TestOpenAPIEventTypes: the document's event types are camrec's, no more,
// no fewer (a new event type must be documented).
func TestOpenAPIEventTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Event struct {
					Properties struct {
						Type struct {
							Enum []string `json:"enum"`
						} `json:"type"`
					} `json:"properties"`
				} `json:"Event"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, typ := range events.Types() {
		want = append(want, string(typ))
	}
	got := doc.Components.Schemas.Event.Properties.Type.Enum
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Event.type enum %v, want events.Types() %v", got, want)
	}
}
