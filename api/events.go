package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/events"
)

// EventFeed is where the API takes events from, and tells of deletions
// (an *events.Bus).
type EventFeed interface {
	Subscribe(after uint64, depth int) (missed []events.Event, lost bool, sub *events.Sub)
	Publish(events.Event)
}

const (
	// maxEventStreamsPerCaller bounds the event streams of one caller (a
	// user or token; without auth, an address): a page opens one per tab.
	maxEventStreamsPerCaller = 8
	// eventQueueDepth bounds the events queued for one slow listener.
	eventQueueDepth = 256
	// eventKeepAlive is how often an idle event stream sends a comment, so
	// that proxies and clients see it alive.
	eventKeepAlive = 15 * time.Second
)

// streamEvents answers GET /api/v1/events with Server-Sent Events: each
// event as `id`, `event` (its type) and `data` (events.Body as JSON), for the
// cameras the caller may see. A client that reconnects with Last-Event-ID
// first gets what it missed from a short backlog; when that no longer
// holds everything, an `events_lost` event says so (refetch the status).
func (s *Server) streamEvents(c *gin.Context) {
	var after uint64
	if v := c.GetHeader("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			abortWithError(c, s.log, fmt.Errorf("%w: Last-Event-ID must be an event's id", errBadRequest))
			return
		}
		after = n
	}
	id := identity(c)
	caller := id.Name
	if caller == "" {
		caller = "address " + clientAddr(c.Request).String()
	}
	if err := s.eventStreams.acquire(caller, s.maxClients, maxEventStreamsPerCaller); err != nil {
		abortWithError(c, s.log, err)
		return
	}
	defer s.eventStreams.release(caller)
	missed, lost, sub := s.events.Subscribe(after, eventQueueDepth)
	defer sub.Close()

	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.Writer.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(c.Writer)
	write := func(format string, args ...any) error {
		if err := rc.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := fmt.Fprintf(c.Writer, format, args...); err != nil {
			return err
		}
		return rc.Flush()
	}
	send := func(e events.Event) error {
		if !id.CanSee(e.Camera) {
			return nil
		}
		b, err := json.Marshal(e.Body())
		if err != nil {
			return err
		}
		return write("id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b)
	}
	if err := write("retry: 3000\n\n"); err != nil {
		return
	}
	if lost {
		if err := write("event: events_lost\ndata: {}\n\n"); err != nil {
			return
		}
	}
	for _, e := range missed {
		if send(e) != nil {
			return
		}
	}
	keepAlive := time.NewTicker(eventKeepAlive)
	defer keepAlive.Stop()
	ctx := c.Request.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-sub.Events():
			if send(e) != nil {
				return
			}
		case <-keepAlive.C:
			if write(": keep-alive\n\n") != nil {
				return
			}
		}
	}
}

// eventLimit counts the open event streams, in all and per caller, like
// max_clients does for a camera's previews.
type eventLimit struct {
	mu       sync.Mutex
	open     int
	byCaller map[string]int
}

// acquire takes a place for caller, or returns an error wrapping
// errTooManyClients when all (max) or the caller's (perCaller) are taken.
func (l *eventLimit) acquire(caller string, max, perCaller int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byCaller == nil {
		l.byCaller = map[string]int{}
	}
	switch {
	case l.open >= max:
		return fmt.Errorf("camrec already serves %d event streams, the most allowed (max_clients): %w", max, errTooManyClients)
	case l.byCaller[caller] >= perCaller:
		return fmt.Errorf("%s already has %d event streams open, the most for one caller: %w", caller, perCaller, errTooManyClients)
	}
	l.open++
	l.byCaller[caller]++
	return nil
}

func (l *eventLimit) release(caller string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byCaller[caller]--; l.byCaller[caller] <= 0 {
		delete(l.byCaller, caller)
	}
}
