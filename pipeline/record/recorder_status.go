// This file holds what a recorder reports: its states and Status.

package record

import (
	"os"
	"time"

	"github.com/camrec/camrec/internal/defs"
)

// RecordingStatus is what a recorder reports (the API shows it as
// RecordingStatusBody).
type RecordingStatus struct {
	Active    bool
	ID        string     // "" when none is active
	StartedAt *time.Time // nil when none is active
	Frames    uint64     // frames written to ffmpeg
	Bytes     int64      // size of the file so far
	// Dropped counts the frames the recording lost to a full queue (the
	// recorder was too slow: the file keeps its length with fewer
	// frames): the active recording's, else the last one's.
	Dropped uint64
	// Error is why the last recording failed (with ffmpeg's last stderr
	// lines), or why recording is impossible (ffmpeg missing); "" otherwise.
	// While recording, it is why the previous file ended badly (ffmpeg died
	// and the recording went on in a new file).
	Error string
	// State is "idle", "recording", "finishing" (a stopped recording's
	// ffmpeg is finishing its file), "failed" (the last recording failed)
	// or "waiting" (continuous recording retries after a failure).
	State string
	// Segment is the index of the file being written in this recording
	// (segments and restarts start new files), from 0.
	Segment int
	// Restarts counts, since camrec started, the times ffmpeg died and the
	// recording went on in a new file.
	Restarts uint64
	// RetentionDeleted counts, since camrec started, the recordings of
	// this camera deleted by retention (keep, max_disk, min_free).
	RetentionDeleted uint64
	// StartLatencyMS is the delay from the request to the first frame
	// written to ffmpeg (0 before it).
	StartLatencyMS float64
	// Trigger is why the active recording runs: TriggerManual (a user's
	// request), TriggerMotion (motion, recording mode "events") or
	// TriggerContinuous; "" when none is active.
	Trigger string
	// SyncedAt is when the file being written was last flushed to the disk
	// (every fsync_interval); nil before the first flush.
	SyncedAt *time.Time
}

// Recorder states in RecordingStatus.State.
const (
	RecorderIdle      = "idle"
	RecorderRecording = "recording"
	RecorderFailed    = "failed"  // the last recording failed; not recording
	RecorderWaiting   = "waiting" // continuous: waiting to retry after a failure
	// RecorderFinishing: not recording; a stopped recording's ffmpeg is
	// still finishing its file (then idle, or failed).
	RecorderFinishing = "finishing"
)

// Triggers of a recording (RecordingStatus.Trigger).
const (
	TriggerManual     = "manual"
	TriggerMotion     = "motion"
	TriggerContinuous = "continuous"
)

// Status reports the active recording; else finishing while a stopped
// recording's ffmpeg finishes its file, waiting while continuous recording
// waits to retry, or failed (with why) when the last recording failed. It
// is cheap and safe from any goroutine.
func (r *Recorder) Status() RecordingStatus {
	r.mu.Lock()
	s, lastErr, waiting, finishing, newest, trigger := r.cur, r.lastErr, r.waiting, len(r.finishing) > 0, r.newest, r.trigger
	r.mu.Unlock()
	st := RecordingStatus{Restarts: r.restarts.Load(), RetentionDeleted: r.Counters().deleted(), State: RecorderIdle}
	if s == nil {
		if newest != nil {
			st.Dropped = newest.sub.Dropped()
		}
		if lastErr == "" && r.cfg.FFmpegErr != nil {
			lastErr = r.cfg.FFmpegErr.Error()
		}
		st.Error = lastErr
		switch {
		case finishing:
			st.State = RecorderFinishing
		case waiting:
			st.State = RecorderWaiting
		case lastErr != "":
			st.State = RecorderFailed
		}
		return st
	}
	started := s.startedAt()
	st.Active, st.State, st.StartedAt, st.Trigger = true, RecorderRecording, &started, trigger
	st.Frames = s.frames.Load()
	st.Dropped = s.sub.Dropped()
	if l := s.latency.Load(); l > 0 {
		st.StartLatencyMS = defs.RoundTo(float64(l)/1e6, 1)
	}
	if n := s.syncedAt.Load(); n > 0 {
		t := time.Unix(0, n)
		st.SyncedAt = &t
	}
	s.mu.Lock()
	f := s.file
	st.Error = s.lastErr
	s.mu.Unlock()
	if f != nil {
		st.ID, st.Segment = f.id, f.index
		if fi, err := os.Stat(f.path); err == nil {
			st.Bytes = fi.Size()
		}
	}
	return st
}

// ffmpegPID returns the pid of the active ffmpeg, 0 if none (for tests).
func (r *Recorder) ffmpegPID() int {
	r.mu.Lock()
	s := r.cur
	r.mu.Unlock()
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return 0
	}
	return s.file.pid
}
