package events

import (
	"encoding/json"
	"strings"
	"testing"
)

func types(es []Event) []Type {
	var out []Type
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

// TestBusResumes: a listener that reconnects with the ID of the last event
// it saw gets what it missed from the backlog, then the new events, with
// nothing repeated; one that comes back too late is told it lost events.
func TestBusResumes(t *testing.T) {
	b := NewBus(3)
	first, _, s := b.Subscribe(0, 8)
	if len(first) != 0 {
		t.Fatalf("a new listener got %d old events", len(first))
	}
	b.Publish(Event{Type: RecordingStarted, Camera: "cam0"})
	seen := <-s.Events()
	s.Close()
	b.Publish(Event{Type: SegmentClosed, Camera: "cam0"})
	b.Publish(Event{Type: RecordingStopped, Camera: "cam0"})

	missed, lost, s2 := b.Subscribe(seen.ID, 8)
	defer s2.Close()
	if lost || len(missed) != 2 || missed[0].ID != seen.ID+1 || missed[1].Type != RecordingStopped {
		t.Fatalf("resume after %d: lost %v, missed %v", seen.ID, lost, types(missed))
	}
	b.Publish(Event{Type: CameraLost, Camera: "cam0"})
	if e := <-s2.Events(); e.Type != CameraLost || e.ID != missed[1].ID+1 {
		t.Errorf("next event %v (id %d)", e.Type, e.ID)
	}

	// One more, and the backlog of three no longer holds seen+1.
	b.Publish(Event{Type: CameraFound, Camera: "cam0"})
	_, lost, s3 := b.Subscribe(seen.ID, 8)
	s3.Close()
	if !lost {
		t.Error("a listener behind the backlog was not told it lost events")
	}
	// An ID from the future (another run of camrec, a clock set back):
	// everything kept, and a gap.
	missed, lost, s4 := b.Subscribe(seen.ID+1_000_000, 8)
	s4.Close()
	if !lost || len(missed) != 3 {
		t.Errorf("unknown ID: lost %v, %d events", lost, len(missed))
	}
}

// TestBusNeverBlocks: a subscriber that does not read loses events,
// counted, and the publisher goes on; a nil bus drops everything.
func TestBusNeverBlocks(t *testing.T) {
	b := NewBus(10)
	_, _, slow := b.Subscribe(0, 2)
	defer slow.Close()
	for range 5 {
		b.Publish(Event{Type: CameraState, State: "stalled"})
	}
	if slow.Dropped() != 3 || len(slow.Events()) != 2 {
		t.Errorf("slow subscriber: %d dropped, %d queued; want 3 and 2", slow.Dropped(), len(slow.Events()))
	}
	var none *Bus
	none.Publish(Event{Type: CameraLost}) // must not panic
}

// TestBusRoundsDurations: a recording's duration reaches every listener,
// and the JSON they are sent, to the millisecond (a file of 68 frames at
// 30 fps lasts 2.267 s, not 2.2666666666666666).
func TestBusRoundsDurations(t *testing.T) {
	b := NewBus(4)
	_, _, s := b.Subscribe(0, 4)
	defer s.Close()
	b.Publish(Event{Type: RecordingStopped, Camera: "cam0", RecordingID: "cam0-20260101-120000.mp4", DurationS: 68.0 / 30})
	e := <-s.Events()
	if e.DurationS != 2.267 {
		t.Errorf("duration_s %v, want 2.267", e.DurationS)
	}
	js, err := json.Marshal(e.Body())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"duration_s":2.267`) {
		t.Errorf("event JSON %s, want duration_s 2.267", js)
	}
	missed, _, s2 := b.Subscribe(e.ID-1, 4)
	s2.Close()
	if len(missed) != 1 || missed[0].DurationS != 2.267 {
		t.Errorf("the backlog holds %+v, want the rounded duration", missed)
	}
}
