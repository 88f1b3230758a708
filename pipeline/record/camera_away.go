// This file holds what happens when the camera goes away: a camera that
// reports itself disconnected or in error, restarts its stream, or stalls
// (see stallGrace and RecorderConfig.StallTimeout) has its file finished;
// the recording goes on in a new file linked to it when frames return.

package record

import (
	"context"

	"github.com/camrec/camrec/pipeline"
)

// cameraGone returns the camera's state when it says it is away
// (disconnected, error), else "".
func (s *session) cameraGone() string {
	cs, ok := s.r.src.(cameraStatuser)
	if !ok {
		return ""
	}
	switch st := cs.Status().State; st {
	case pipeline.StateDisconnected, pipeline.StateError:
		return st
	}
	return ""
}

// cameraRestarted reports whether the camera restarted its stream since the
// last call (or the session's start).
func (s *session) cameraRestarted() bool {
	cs, ok := s.r.src.(cameraStatuser)
	if !ok {
		return false
	}
	n := cs.Status().Restarts
	changed := n != s.restartsSeen
	s.restartsSeen = n
	return changed
}

// pause finishes the file being written because the camera stopped
// delivering (why says how the writer knows): its last slot carries the
// last frame. The session stays active without a file; the next frame opens
// a new one (resume). Filling the camera's absence with its last picture
// would make a file of a frozen image; two files say what happened.
func (s *session) pause(ctx context.Context, why string) error {
	rs := s.rs
	s.rs = newResampler(s.fps) // the next frame starts a new run
	if err := s.write(ctx, rs.Finish(rs.LastTime().Add(s.period))); err != nil {
		return err
	}
	old := s.file
	s.setFile(nil)
	s.away, s.pausedAfter = true, rs.LastTime()
	s.mu.Lock()
	s.lastErr = "camera stopped delivering frames (" + why + "): the recording goes on in a new file when they return"
	s.mu.Unlock()
	if old != nil {
		s.log.Warn("camera stopped delivering frames: recording file finished; the recording goes on in a new file when frames return",
			"recording_id", old.id, "why", why)
		s.finishLater(ctx, old, endStop, "")
	}
	return nil
}

// resume opens the file that follows a pause, starting with f.
func (s *session) resume(ctx context.Context, f *pipeline.Frame) error {
	s.away = false
	s.cameraRestarted() // count from now
	k := int64(s.frames.Load())
	in := specOf(f)
	if err := copyError(s.r.cfg, in); err != nil {
		return &sessionFailure{err.Error()}
	}
	s.spec = in
	s.mu.Lock()
	s.lastErr = ""
	s.mu.Unlock()
	nf, err := s.r.openFile(s, s.nextIndex, k, f.Time, s.lastID, in)
	if err != nil {
		s.log.Error("camera delivers again, but the next file could not be started", "error", err.Error())
		return s.replace(ctx, k)
	}
	s.setFile(nf)
	s.log.Info("camera delivers again: the recording goes on in a new file", "recording_id", nf.id, "prev_id", nf.prevID, "path", nf.path)
	return nil
}
