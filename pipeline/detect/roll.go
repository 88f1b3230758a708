package detect

import (
	"context"
	"time"
)

// roll drives the recorder in the recording mode "events": the first
// motion of a stretch starts a recording (Record.SetMotion(true), which
// begins with the recorder's pre-record), every later motion moves its end
// to PostRoll after that motion, and when the end comes with no motion
// since, SetMotion(false) lets the recording end. The end is independent
// of event_gap: a post_roll shorter than the gap ends the recording before
// the event, and motion within the gap starts a new one (with its
// pre-record). roll is owned by Run, and returns when ctx is done
// (Recorder.Run finishes the file at shutdown).
//
// kick carries motion (capture times): the analyser replaces what is not
// yet taken, so kick never blocks it. SetMotion can take seconds (ffmpeg
// starting); motion meanwhile is taken afterwards.
func (s *Stage) roll(ctx context.Context, kick <-chan motionKick) {
	postRoll := s.cfg.Motion.PostRoll
	var (
		holding bool
		end     time.Time
		timer   *time.Timer
		timerC  <-chan time.Time
	)
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
	}
	defer stopTimer()
	for {
		select {
		case <-ctx.Done():
			return
		case k := <-kick:
			if e := k.at.Add(postRoll); e.After(end) {
				end = e
			}
			if !holding {
				if err := s.cfg.Record.SetMotion(ctx, true, k.start); err != nil {
					if ctx.Err() != nil {
						return
					}
					s.log.Warn("motion: cannot start the event recording", "error", err.Error())
					// The next motion tries again.
					continue
				}
				holding = true
			}
			stopTimer()
			timer = time.NewTimer(time.Until(end))
			timerC = timer.C
		case <-timerC:
			timer, timerC = nil, nil
			if wait := time.Until(end); wait > 0 { // moved meanwhile
				timer = time.NewTimer(wait)
				timerC = timer.C
				continue
			}
			holding = false
			if err := s.cfg.Record.SetMotion(ctx, false, time.Time{}); err != nil && ctx.Err() == nil {
				s.log.Warn("motion: cannot end the event recording", "error", err.Error())
			}
		}
	}
}

// motionKick is a frame with motion of an open event: the event's start
// and the frame's capture time.
type motionKick struct{ start, at time.Time }
