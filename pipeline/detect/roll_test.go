package detect

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camrec/camrec/internal/motion"
)

// triggerCall is one SetMotion the fake recorder got, at the bubble's time.
type triggerCall struct {
	active   bool
	from, at time.Time
}

// fakeTrigger is a recorder in the recording mode "events"; it takes
// startDelay to start (ffmpeg starting).
type fakeTrigger struct {
	startDelay time.Duration
	mu         sync.Mutex
	calls      []triggerCall
}

func (f *fakeTrigger) SetMotion(ctx context.Context, active bool, from time.Time) error {
	if active {
		time.Sleep(f.startDelay) // virtual time: the recorder's start
	}
	f.mu.Lock()
	f.calls = append(f.calls, triggerCall{active, from, time.Now()})
	f.mu.Unlock()
	return nil
}

func (f *fakeTrigger) all() []triggerCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]triggerCall(nil), f.calls...)
}

// TestRollRecordsPostRollAfterTheLastMotion, on virtual time: the first
// motion starts a recording from the event's start; motion every second
// for 5 s keeps it (one start only, even while the start takes 2 s);
// it ends post_roll (10 s) after the last motion, not after the first;
// motion after that starts a new one.
func TestRollRecordsPostRollAfterTheLastMotion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &fakeTrigger{startDelay: 2 * time.Second}
		s := &Stage{cfg: Config{Camera: "c", Record: rec, Motion: motion.Config{PostRoll: 10 * time.Second}},
			log: slog.New(slog.DiscardHandler)}
		kick := make(chan motionKick, 1)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.roll(ctx, kick); close(done) }()

		t0 := time.Now()
		start := t0.Add(-400 * time.Millisecond)
		for i := range 6 {
			kick <- motionKick{start: start, at: time.Now()}
			if i < 5 {
				time.Sleep(time.Second)
			}
		}
		synctest.Wait()
		lastMotion := time.Now()
		time.Sleep(30 * time.Second)
		second := time.Now()
		kick <- motionKick{start: second, at: second}
		synctest.Wait()
		cancel()
		<-done

		calls := rec.all()
		if len(calls) != 3 {
			t.Fatalf("calls %+v, want start, end, start", calls)
		}
		if !calls[0].active || !calls[0].from.Equal(start) || !calls[0].at.Equal(t0.Add(2*time.Second)) {
			t.Errorf("first call %+v: want a start from the event's start %v", calls[0], start)
		}
		if calls[1].active || !calls[1].at.Equal(lastMotion.Add(10*time.Second)) {
			t.Errorf("second call %+v: want the end at the last motion + post_roll (%v)", calls[1], lastMotion.Add(10*time.Second))
		}
		if !calls[2].active || !calls[2].from.Equal(second) {
			t.Errorf("third call %+v: want a new start", calls[2])
		}
	})
}
