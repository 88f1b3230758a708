package hooks

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
)

// receiver is a webhook endpoint on loopback that answers the statuses of
// answers in turn (then 200) and keeps what it got.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int
	reqs    []*http.Request
	bodies  [][]byte // of the requests answered 2xx
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	rc := &receiver{answers: answers}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		status := http.StatusOK
		if n := len(rc.reqs); n < len(rc.answers) {
			status = rc.answers[n]
		}
		rc.reqs = append(rc.reqs, r)
		if status/100 == 2 {
			rc.bodies = append(rc.bodies, b)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// secretURL is rc's URL with a password and a token, which the log must
// never show.
func secretURL(addr string) string {
	return "http://camrec:pw-s3cret@" + addr + "/hooks/camrec?token=tok-s3cret"
}

func fastRetries(r *Runner) {
	r.web.backoff = defs.Backoff{First: 10 * time.Millisecond, Max: 10 * time.Millisecond}
}

// TestWebhookRetriesThenDelivers: the receiver fails twice with 503, then
// takes the event: one body, the event's JSON, with the right headers and
// the URL's credentials; events outside webhook_events are not sent; the
// log never shows the URL's secrets.
func TestWebhookRetriesThenDelivers(t *testing.T) {
	rc := newReceiver(t, 503, 503)
	s := start(t, Config{WebhookURL: secretURL(rc.Listener.Addr().String()), UserAgent: "camrec/test",
		WebhookEvents: []events.Type{events.RecordingStopped}}, fastRetries)
	s.bus.Publish(events.Event{Type: events.CameraState, Camera: "cam0", State: "stalled"}) // filtered out
	e := s.publish(t, events.Event{Type: events.RecordingStopped, Camera: "cam0", RecordingID: "cam0-1.mp4", Path: "/secret/path/cam0-1.mp4", DurationS: 2, Bytes: 9})
	await(t, "the delivery", func() bool { return s.r.web.delivered.Load() == 1 })
	s.stop()

	want, _ := json.Marshal(e.Body())
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) != 3 || len(rc.bodies) != 1 || string(rc.bodies[0]) != string(want) {
		t.Fatalf("%d requests, bodies %q; want 3 requests and one body %s", len(rc.reqs), rc.bodies, want)
	}
	r := rc.reqs[2]
	user, pass, _ := r.BasicAuth()
	if r.Method != "POST" || r.URL.Path != "/hooks/camrec" || r.URL.Query().Get("token") != "tok-s3cret" ||
		r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "camrec/test" ||
		user != "camrec" || pass != "pw-s3cret" {
		t.Errorf("request %s %s, headers %v", r.Method, r.URL, r.Header)
	}
	log := s.log.String()
	if strings.Contains(log, "s3cret") {
		t.Errorf("the log shows the webhook's secret:\n%s", log)
	}
	if !strings.Contains(log, `msg=webhook url=http://`+rc.Listener.Addr().String()+`/hooks/camrec events=recording_stopped`) ||
		!strings.Contains(log, `msg="webhook: trying again"`) || !strings.Contains(log, `error="status 503"`) {
		t.Errorf("log:\n%s", log)
	}
}

// TestWebhookClientErrorNotRetried: a 400 is final: one request, counted
// and logged as refused.
func TestWebhookClientErrorNotRetried(t *testing.T) {
	rc := newReceiver(t, 400)
	s := start(t, Config{WebhookURL: secretURL(rc.Listener.Addr().String())}, fastRetries)
	s.publish(t, events.Event{Type: events.CameraLost, Camera: "cam0"})
	await(t, "the refusal", func() bool { return s.r.web.failed.Load() == 1 })
	s.stop()
	if n := rc.requests(); n != 1 {
		t.Errorf("%d requests for a 400, want 1", n)
	}
	log := s.log.String()
	if !strings.Contains(log, `level=WARN msg="webhook refused the event"`) || !strings.Contains(log, "status=400") || strings.Contains(log, "s3cret") {
		t.Errorf("log:\n%s", log)
	}
}

// TestWebhookNetworkErrorRedacted: a receiver that is not there is tried
// three times; the error logged names scheme://host/path only (Go's
// url.Error would print the whole URL).
func TestWebhookNetworkErrorRedacted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	s := start(t, Config{WebhookURL: secretURL(addr)}, fastRetries)
	s.publish(t, events.Event{Type: events.RecordingStarted, Camera: "cam0"})
	await(t, "the failure", func() bool { return s.r.web.failed.Load() == 1 })
	s.stop()
	log := s.log.String()
	if strings.Contains(log, "s3cret") {
		t.Errorf("the log shows the webhook's secret:\n%s", log)
	}
	if !strings.Contains(log, `msg="webhook failed" url=http://`+addr+`/hooks/camrec event=recording_started`) ||
		!strings.Contains(log, `tries=3 error="Post http://`+addr+`/hooks/camrec: dial tcp `+addr+`: connect: connection refused"`) {
		t.Errorf("log:\n%s", log)
	}
}

// TestWebhookQueueBounded: while the receiver hangs, the events beyond
// the webhook's queue (and the runner's on the bus, which may fill first)
// are dropped, counted, logged once a burst, and Publish never waits; at
// shutdown the receiver's hang is cut after the grace and what was queued
// is given up, counted.
func TestWebhookQueueBounded(t *testing.T) {
	release := make(chan struct{})
	var got sync.WaitGroup
	got.Add(1)
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(got.Done)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	defer close(release)
	s := start(t, Config{WebhookURL: srv.URL + "/x"}, func(r *Runner) { r.grace = 200 * time.Millisecond })
	s.bus.Publish(events.Event{Type: events.CameraLost, Camera: "cam0"})
	got.Wait() // the worker holds the first event; the queue is empty
	const extra = 10
	for range webhookQueue + extra {
		s.bus.Publish(events.Event{Type: events.CameraState, Camera: "cam0"})
	}
	await(t, "the drops", func() bool { return s.r.sub.Dropped()+s.r.web.dropped.Load() == extra })
	s.stop()
	for _, msg := range []string{"webhook queue full", "fell behind the events"} {
		if n := strings.Count(s.log.String(), msg); n > 1 {
			t.Errorf("%d log lines %q, want at most 1:\n%s", n, msg, s.log.String())
		}
	}
	// The one held and the queued ones: given up at the end of the grace.
	d, f := s.r.sub.Dropped()+s.r.web.dropped.Load(), s.r.web.failed.Load()
	if d+f != webhookQueue+extra+1 || s.r.web.delivered.Load() != 0 {
		t.Errorf("dropped %d, failed %d, delivered %d; want all %d undelivered", d, f, s.r.web.delivered.Load(), webhookQueue+extra+1)
	}
}

// TestWebhookAttachesTheSnapshot: with webhook_snapshot, a motion event
// with a snapshot is POSTed as multipart/form-data: part "event" is the
// event's JSON (its snapshot's path on disk is not in it), part
// "snapshot" the JPEG file's bytes; an event without a snapshot is plain
// JSON, and one whose snapshot is gone goes out as JSON all the same.
func TestWebhookAttachesTheSnapshot(t *testing.T) {
	rc := newReceiver(t)
	dir := t.TempDir()
	snap := filepath.Join(dir, "cam0-20261208T142003.123Z.jpg")
	jpg := []byte("\xff\xd8 a jpeg \xff\xd9")
	if err := os.WriteFile(snap, jpg, 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, Config{WebhookURL: rc.URL, WebhookSnapshot: true}, nil)
	e := s.publish(t, events.Event{Type: events.MotionEnded, Camera: "cam0", Score: 3, EventID: "cam0-20261208T142003.123Z",
		SnapshotURL: "/api/v1/motion-events/cam0-20261208T142003.123Z/snapshot.jpg", SnapshotPath: snap})
	s.publish(t, events.Event{Type: events.RecordingStarted, Camera: "cam0", RecordingID: "r.mp4"})
	s.publish(t, events.Event{Type: events.MotionStarted, Camera: "cam0", EventID: "x", SnapshotPath: filepath.Join(dir, "gone.jpg")})
	await(t, "three deliveries", func() bool { return s.r.web.delivered.Load() == 3 })
	s.stop()

	rc.mu.Lock()
	defer rc.mu.Unlock()
	mt, params, err := mime.ParseMediaType(rc.reqs[0].Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("first POST: Content-Type %q, want multipart/form-data", rc.reqs[0].Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(rc.bodies[0]), params["boundary"])
	parts := map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		parts[p.FormName()] = b
	}
	want, _ := json.Marshal(e.Body())
	if string(parts["event"]) != string(want) || !bytes.Equal(parts["snapshot"], jpg) {
		t.Errorf("parts: event %s, snapshot %q; want %s and the file", parts["event"], parts["snapshot"], want)
	}
	if strings.Contains(string(parts["event"]), dir) {
		t.Error("the event's JSON shows the snapshot's path on disk")
	}
	for i := 1; i < 3; i++ {
		if ct := rc.reqs[i].Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("POST %d: Content-Type %q, want JSON", i, ct)
		}
	}
}
