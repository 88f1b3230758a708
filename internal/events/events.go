// Package events carries what happens in camrec — a recording started or
// stopped, a camera lost or found, a recording deleted by retention — to
// whoever listens (the API's Server-Sent Events). Publishing never blocks:
// a listener that does not keep up loses events, counted, rather than slow
// a camera or a recorder; one that reconnects resumes from a short backlog.
package events

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Type says what happened.
type Type string

// The events camrec publishes.
const (
	RecordingStarted  Type = "recording_started"
	RecordingStopped  Type = "recording_stopped" // the recording's last file is complete
	RecordingFailed   Type = "recording_failed"  // a file ended badly (ffmpeg died, disk full, …)
	SegmentClosed     Type = "segment_closed"    // a file is complete and the recording goes on
	CameraState       Type = "camera_state"      // any change of a camera's state
	CameraLost        Type = "camera_lost"       // disconnected or in error
	CameraFound       Type = "camera_found"      // streaming (again)
	RetentionDeleted  Type = "retention_deleted"
	RecordingDeleted  Type = "recording_deleted"  // deleted through the API
	DiskLow           Type = "disk_low"           // the record dir's free space fell below disk_low; Bytes is what is free
	RecordingUploaded Type = "recording_uploaded" // a file and its sidecar were uploaded and verified
	UploadFailed      Type = "upload_failed"      // an upload try failed; it is retried after a backoff
	RestreamStarted   Type = "restream_started"   // the media server took the camera's stream
	RestreamStopped   Type = "restream_stopped"   // the restream ended: nobody asks for it (on_demand), or shutdown
	RestreamFailed    Type = "restream_failed"    // the restream broke or could not start; it is retried after a backoff
	MotionStarted     Type = "motion_started"     // motion detection started an event; Time is its first frame's capture time
	MotionEnded       Type = "motion_ended"       // the event ended event_gap after its last motion; Time is that last motion's
)

// Types returns every type camrec publishes.
func Types() []Type {
	return []Type{RecordingStarted, RecordingStopped, RecordingFailed, SegmentClosed, CameraState,
		CameraLost, CameraFound, RetentionDeleted, RecordingDeleted, DiskLow, RecordingUploaded, UploadFailed,
		RestreamStarted, RestreamStopped, RestreamFailed, MotionStarted, MotionEnded}
}

// Event is one thing that happened; fields that do not apply stay zero.
type Event struct {
	ID          uint64 // set by the bus, increasing
	Type        Type
	Time        time.Time // set by the bus when zero
	Camera      string
	RecordingID string
	Path        string  // the recording's file on disk
	DurationS   float64 // rounded to the millisecond by the bus
	Bytes       int64
	State       string // a camera's new state
	Error       string
	Rule        string // the retention rule
	// Score is a motion event's highest changed area so far, in percent
	// of the unmasked picture; Zones the zones that moved.
	Score float64
	Zones []string
	// EventID is a motion event's ID in the events catalogue,
	// SnapshotURL the API path of its snapshot ("" before it has one).
	EventID     string
	SnapshotURL string
	// SnapshotPath is the snapshot's file on disk (for hooks and the
	// webhook's attachment, never sent out).
	SnapshotPath string
}

// Bus fans events out to subscribers and keeps the last ones for those that
// reconnect. A nil *Bus drops everything, so that producers need no check.
type Bus struct {
	mu      sync.Mutex
	nextID  uint64  // the last ID given
	backlog []Event // the newest, oldest first, at most limit
	limit   int
	subs    map[*Sub]struct{}
}

// NewBus returns a bus that keeps the last backlog events. IDs start from
// the time (in ms, times 1000), so that they go on increasing across
// restarts of camrec: a listener resuming with an ID of a previous run is
// told it lost events, not given nothing.
func NewBus(backlog int) *Bus {
	return &Bus{limit: max(backlog, 1), subs: map[*Sub]struct{}{}, nextID: uint64(time.Now().UnixMilli()) * 1000}
}

// Publish numbers e, keeps it in the backlog and offers it to every
// subscriber without waiting. Its duration is rounded to the millisecond
// here, where every listener (SSE, MQTT, hooks, the webhook) takes it
// from: 2.267, not 2.2666666666666666.
func (b *Bus) Publish(e Event) {
	if b == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.DurationS = roundMillis(e.DurationS)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextID++
	e.ID = b.nextID
	if len(b.backlog) == b.limit {
		b.backlog = append(b.backlog[:0], b.backlog[1:]...)
	}
	b.backlog = append(b.backlog, e)
	for s := range b.subs {
		select {
		case s.ch <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

// Sub is one subscriber's bounded queue of events.
type Sub struct {
	bus     *Bus
	ch      chan Event
	dropped atomic.Uint64
}

// Subscribe returns the backlog's events after event after (none when after
// is 0: a new listener starts from now), whether events after it were lost
// (older than the backlog keeps), and a subscription to the ones to come,
// with a queue of depth. Nothing is missed or repeated between the two.
// The caller must Close the subscription.
func (b *Bus) Subscribe(after uint64, depth int) (missed []Event, lost bool, s *Sub) {
	s = &Sub{bus: b, ch: make(chan Event, max(depth, 1))}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case after == 0: // a new listener
	case after > b.nextID: // not one of ours: all we have, and a gap
		missed, lost = append(missed, b.backlog...), true
	default:
		for _, e := range b.backlog {
			if e.ID > after {
				missed = append(missed, e)
			}
		}
		lost = len(missed) > 0 && missed[0].ID != after+1
	}
	b.subs[s] = struct{}{}
	return missed, lost, s
}

// Events is the subscription's queue.
func (s *Sub) Events() <-chan Event { return s.ch }

// Dropped counts the events s lost because its queue was full.
func (s *Sub) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription.
func (s *Sub) Close() {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
}

// roundMillis rounds seconds to three decimals (defs.RoundTo's rule;
// events sits below pipeline and cannot import it).
func roundMillis(s float64) float64 { return math.Round(s*1000) / 1000 }
