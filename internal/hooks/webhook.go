package hooks

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
)

// Webhook bounds.
const (
	// webhookQueue is how many events may wait for the webhook; beyond,
	// events are dropped (counted, logged once per burst). A receiver
	// that is down costs each event about 3 s of retries.
	webhookQueue = 64
	// webhookTries is how often an event is tried on network errors,
	// 5xx and 429; other answers are final.
	webhookTries = 3
	// webhookTimeout bounds one POST.
	webhookTimeout = 10 * time.Second
)

// webhook POSTs events as JSON to one URL, one at a time, from a bounded
// queue.
type webhook struct {
	url     string // whole, with its secret: never logged
	safeURL string // scheme://host/path, for logs and errors
	only    map[events.Type]bool
	agent   string
	log     *slog.Logger
	client  *http.Client
	backoff defs.Backoff
	queue   chan events.Event
	// snapshot: attach a motion event's snapshot (multipart).
	snapshot bool
	// dropping counts the events dropped in the current burst; only
	// offer (the Run loop) touches it.
	dropping                   int
	delivered, failed, dropped atomic.Uint64
}

func newWebhook(rawURL string, only []events.Type, agent string, log *slog.Logger) *webhook {
	w := &webhook{
		url: rawURL, safeURL: redactURL(rawURL), agent: cmp.Or(agent, "camrec"), log: log,
		// Redirects are not followed: a POST turns into a GET, and the
		// receiver is to be configured with its final address.
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		// 1 s, then 2 s: an event is given up about 3 s after its first try.
		backoff: defs.Backoff{First: time.Second, Max: 10 * time.Second},
		queue:   make(chan events.Event, webhookQueue),
	}
	if len(only) > 0 {
		w.only = map[events.Type]bool{}
		for _, t := range only {
			w.only[t] = true
		}
	}
	return w
}

// redactURL is raw without its user, password, query and fragment.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

func (w *webhook) filterText() string {
	if w.only == nil {
		return "all"
	}
	var s []string
	for t := range w.only {
		s = append(s, string(t))
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

// offer queues e if the webhook wants it, without waiting.
func (w *webhook) offer(e events.Event) {
	if w.only != nil && !w.only[e.Type] {
		return
	}
	select {
	case w.queue <- e:
		if w.dropping > 0 {
			w.log.Warn("webhook events dropped while its queue was full", "url", w.safeURL, "dropped", w.dropping)
			w.dropping = 0
		}
	default:
		w.dropped.Add(1)
		if w.dropping == 0 {
			w.log.Warn("webhook queue full: dropping events", "url", w.safeURL, "event", string(e.Type), "event_id", e.ID, "queue", webhookQueue)
		}
		w.dropping++
	}
}

// close ends the queue: run delivers what is in it, then returns.
func (w *webhook) close() { close(w.queue) }

// run delivers the queued events until the queue is closed and empty, or
// ctx is done (the rest is dropped, counted).
func (w *webhook) run(ctx context.Context) {
	for e := range w.queue {
		if ctx.Err() != nil {
			w.dropped.Add(uint64(1 + len(w.queue)))
			w.log.Warn("webhook events not delivered: camrec is stopping", "url", w.safeURL, "dropped", 1+len(w.queue))
			for range w.queue {
			}
			return
		}
		w.deliver(ctx, e)
	}
}

// deliver POSTs e, trying again after network errors, 5xx and 429.
func (w *webhook) deliver(ctx context.Context, e events.Event) {
	body, err := json.Marshal(e.Body())
	if err != nil { // a Body always marshals
		w.log.Error("webhook: event to JSON", "error", err)
		return
	}
	ctype := "application/json"
	if w.snapshot && e.SnapshotPath != "" {
		if body, ctype, err = withSnapshot(body, e); err != nil {
			// The event goes out without it.
			w.log.Warn("webhook: cannot attach the snapshot", "event", string(e.Type), "error", err.Error())
			ctype = "application/json"
			body, _ = json.Marshal(e.Body())
		}
	}
	attrs := []any{"url", w.safeURL, "event", string(e.Type), "event_id", e.ID}
	b := w.backoff
	b.Reset()
	for try := 1; ; try++ {
		status, err := w.post(ctx, body, ctype)
		switch {
		case err == nil && status >= 200 && status < 300:
			w.log.Debug("webhook delivered", append(attrs, "status", status, "tries", try)...)
			w.delivered.Add(1)
			return
		case err == nil && status < 500 && status != http.StatusTooManyRequests:
			w.log.Warn("webhook refused the event", append(attrs, "status", status)...)
			w.failed.Add(1)
			return
		}
		if err == nil {
			err = fmt.Errorf("status %d", status)
		}
		if try == webhookTries || ctx.Err() != nil {
			w.log.Warn("webhook failed", append(attrs, "tries", try, "error", err.Error())...)
			w.failed.Add(1)
			return
		}
		w.log.Debug("webhook: trying again", append(attrs, "try", try, "error", err.Error())...)
		t := time.NewTimer(b.Next())
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// post sends body once and returns the answer's status. Its errors never
// hold the URL's secret.
func (w *webhook) post(ctx context.Context, body []byte, ctype string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, w.redact(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", w.agent)
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, w.redact(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// redact replaces the whole URL in err (a *url.Error names it) by the
// safe one.
func (w *webhook) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, w.safeURL, ue.Err)
	}
	return fmt.Errorf("POST %s: %s", w.safeURL, strings.ReplaceAll(err.Error(), w.url, w.safeURL))
}

// maxSnapshotBytes bounds the snapshot a webhook attaches (a 4K JPEG is
// ~2 MB).
const maxSnapshotBytes = 8 << 20

// withSnapshot makes the multipart/form-data body of a motion event: part
// "event" is the JSON, part "snapshot" the JPEG (<event_id>.jpg).
func withSnapshot(event []byte, e events.Event) ([]byte, string, error) {
	f, err := os.Open(e.SnapshotPath)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="event"`)
	h.Set("Content-Type", "application/json")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	_, _ = pw.Write(event)
	h = textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="snapshot"; filename=%q`, e.EventID+".jpg"))
	h.Set("Content-Type", "image/jpeg")
	if pw, err = mw.CreatePart(h); err != nil {
		return nil, "", err
	}
	n, err := io.Copy(pw, io.LimitReader(f, maxSnapshotBytes+1))
	if err != nil {
		return nil, "", err
	}
	if n > maxSnapshotBytes {
		return nil, "", fmt.Errorf("snapshot larger than %d bytes", maxSnapshotBytes)
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return b.Bytes(), mw.FormDataContentType(), nil
}
