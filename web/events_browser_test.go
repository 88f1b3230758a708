package web_test

import (
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/camrec/camrec/web"
)

// eventServer serves the page and a scripted camrec API: no camera, one
// recording, and an event stream that ends once (the test says when) and
// then answers the reconnection with events_lost and a retention deletion.
type eventServer struct {
	cameraReads, listReads atomic.Int64
	deleted                atomic.Bool
	endFirst               chan struct{}
	endOnce                sync.Once

	mu          sync.Mutex
	streams     int
	lastEventID []string // the Last-Event-ID of each stream request
}

func (s *eventServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page := func(name, typ string) {
		b, err := fs.ReadFile(web.FS(), name)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", typ)
		w.Write(b)
	}
	switch r.URL.Path {
	case "/":
		page("index.html", "text/html; charset=utf-8")
	case "/static/app.js":
		page("app.js", "text/javascript")
	case "/static/style.css":
		page("style.css", "text/css")
	case "/api/v1/me":
		fmt.Fprint(w, `{"name":"","role":"operator","auth":false}`)
	case "/api/v1/cameras":
		s.cameraReads.Add(1)
		fmt.Fprint(w, `[]`)
	case "/api/v1/recordings":
		s.listReads.Add(1)
		if s.deleted.Load() {
			fmt.Fprint(w, `[]`)
			return
		}
		fmt.Fprint(w, `[{"id":"cam0-1.mp4","camera":"cam0","state":"complete","started_at":"2026-12-02T06:00:00Z","duration_s":5,"bytes":1000,"file_url":"/api/v1/recordings/cam0-1.mp4/file"}]`)
	case "/api/v1/events":
		s.events(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *eventServer) events(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.streams++
	n := s.streams
	s.lastEventID = append(s.lastEventID, r.Header.Get("Last-Event-ID"))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	flush := func(text string) {
		fmt.Fprint(w, text)
		w.(http.Flusher).Flush()
	}
	switch n {
	case 1:
		// An event in two pieces, then a comment; the stream ends when
		// the test says.
		flush("retry: 200\n\nid: 5\nevent: camera_st")
		flush("ate\ndata: {\"id\":5,\"type\":\"camera_state\",\"camera\":\"cam0\",\"state\":\"streaming\"}\n\n: keep-alive\n\n")
		select {
		case <-s.endFirst:
		case <-r.Context().Done():
		}
	case 2:
		s.deleted.Store(true)
		flush("retry: 200\n\nevent: events_lost\ndata: {}\n\n")
		flush("id: 7\nevent: retention_deleted\ndata: {\"id\":7,\"type\":\"retention_deleted\",\"camera\":\"cam0\",\"recording_id\":\"cam0-1.mp4\",\"rule\":\"keep\"}\n\n")
		<-r.Context().Done()
	default:
		<-r.Context().Done()
	}
}

// end ends the first stream.
func (s *eventServer) end() { s.endOnce.Do(func() { close(s.endFirst) }) }

func (s *eventServer) streamHeaders() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams, append([]string(nil), s.lastEventID...)
}

// TestPageEventStream: the page's own reader of /api/v1/events. It reads
// the status when the stream opens and when an event says so (an event
// split across two reads, a keep-alive comment between events); when the
// stream ends it reads the status and the list, reconnects after the
// server's `retry` with Last-Event-ID, reads both again on the opening and
// on events_lost, and a retention_deleted takes the recording off the list.
func TestPageEventStream(t *testing.T) {
	s := &eventServer{endFirst: make(chan struct{})}
	srv := httptest.NewServer(s)
	defer srv.Close()
	defer s.end() // before srv.Close, which waits for the stream
	ctx, closeBrowser := newTab(t)
	defer closeBrowser() // first of all

	waitJS := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("waiting for %s (%s): %v", what, expr, err)
		}
	}
	waitCount := func(what string, c *atomic.Int64, atLeast int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for c.Load() < atLeast {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: %d reads, want %d", what, c.Load(), atLeast)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	waitJS("the page to listen and hear the camera_state event", `document.body.dataset.live === 'events' && document.body.dataset.lastEvent === 'camera_state'`)
	waitJS("the recording in the list", `document.querySelector('#recordings li[data-id="cam0-1.mp4"]') !== null`)
	// One read when the stream opened, one for the event.
	waitCount("the status read for the opening and for the event", &s.cameraReads, 2)
	cams, lists := s.cameraReads.Load(), s.listReads.Load()

	s.end()
	waitJS("the page to hear events_lost and retention_deleted on the new stream", `document.body.dataset.live === 'events' && document.body.dataset.lastEvent === 'retention_deleted'`)
	// The end, the opening and events_lost each ask for the status and the
	// list (a request asked for while one runs makes one more after it).
	waitCount("the status read after the end, the opening and events_lost", &s.cameraReads, cams+3)
	waitCount("the list read after the end, the opening and events_lost", &s.listReads, lists+3)
	if n, ids := s.streamHeaders(); n != 2 || ids[0] != "" || ids[1] != "5" {
		t.Errorf("%d stream requests with Last-Event-ID %q, want 2: none, then 5", n, ids)
	}
	waitJS("the deleted recording off the list", `document.querySelector('#recordings li[data-id="cam0-1.mp4"]') === null`)
}
