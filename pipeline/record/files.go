// This file holds a recording's files: where each is opened and its ffmpeg
// launched, where a file is cut (segments), replaced after ffmpeg died,
// flushed to disk (fsync) and finished.

package record

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/pipeline/store"
)

// openFile reserves the next file of s (its first slot is slot, standing
// for time t) and starts its ffmpeg reading in.
func (r *Recorder) openFile(s *session, index int, slot int64, t time.Time, prevID string, in inputSpec) (*segFile, error) {
	id, path, err := r.cat.Reserve(r.cfg.Camera, r.cfg.Container, t)
	if err != nil {
		return nil, err
	}
	f, err := r.launch(id, path, s.fps, in)
	if err != nil {
		r.cat.Forget(id, path)
		return nil, fmt.Errorf("recording %s: %w", id, err)
	}
	f.index, f.firstSlot, f.prevID, f.spec = index, slot, prevID, in
	f.stamped = stamped(r.cfg, in)
	meta := store.Sidecar{
		StartedAt:  t,
		State:      store.RecStateRecording,
		Codec:      videoCodecName(r.cfg.Codec, in),
		Container:  r.cfg.Container,
		FPS:        s.fps,
		Fragmented: r.cfg.Container == "mp4",
		PrevID:     prevID,
	}
	if err := r.cat.Put(r.cfg.Camera, id, path, meta, 0); err != nil {
		r.log.Warn("write sidecar", "recording_id", id, "error", err.Error())
	}
	if prevID != "" {
		if err := r.cat.Link(prevID, id); err != nil {
			r.log.Warn("link recordings", "recording_id", prevID, "next_id", id, "error", err.Error())
		}
	}
	syncDir(filepath.Dir(path))
	return f, nil
}

// launch starts the encoder reading in and writing path.
func (r *Recorder) launch(id, path string, fps float64, in inputSpec) (*segFile, error) {
	args := ffmpegArgs(r.cfg, fps, in, path)
	r.log.Debug("ffmpeg command", "recording_id", id, "args", strings.Join(args, " "))
	enc, err := r.enc.start(path, args)
	if err != nil {
		return nil, err
	}
	return &segFile{id: id, path: path, encoder: enc}, nil
}

// discardLater ends the ffmpeg of f, which got no frame, and removes f.
func (s *session) discardLater(f *segFile) {
	s.finals.Go(func() {
		f.end(time.Now().Add(killGrace), 0, false, s.log)
		s.r.cat.Forget(f.id, f.path)
	})
}

// rotate starts the next segment at slot k, then lets the previous file
// finish in the background.
func (s *session) rotate(ctx context.Context, k int64) error {
	return s.rotateAt(ctx, k, s.slotTime(k))
}

// rotateAt is rotate with the capture time t of the next file's first
// frame.
func (s *session) rotateAt(ctx context.Context, k int64, t time.Time) error {
	old := s.file
	nf, err := s.r.openFile(s, s.nextIndex, k, t, s.lastID, s.spec)
	if err != nil {
		// Keep writing the current file rather than lose frames; try again
		// at the next boundary.
		s.log.Error("start next segment: continuing in the current file", "error", err.Error())
		return nil
	}
	s.setFile(nf)
	s.finishLater(ctx, old, endStop, "")
	return nil
}

func (s *session) setFile(f *segFile) {
	s.mu.Lock()
	s.file = f
	s.mu.Unlock()
	if f != nil {
		s.lastID, s.nextIndex = f.id, f.index+1
	}
}

func (s *session) finishLater(ctx context.Context, f *segFile, why endReason, errText string) {
	s.seal(f)
	f.in.Close()
	s.finals.Go(func() {
		s.finishFile(ctx, f, why, time.Now().Add(stopDeadline), errText)
		s.r.prune()
	})
}

// replace ends the current file, whose ffmpeg died (or is dying), and goes
// on in a new file from slot k: at once after a healthy file, else after a
// growing pause. It gives up after maxRestarts failures in a row, when the
// disk is full (unless retention frees room in continuous mode), and when
// the very first ffmpeg of the session fails (a bad option: the start
// request gets the error).
func (s *session) replace(ctx context.Context, k int64) error {
	var lastText string
	if s.stopping() {
		// Stopping anyway: run finishes the file with ffmpeg's outcome.
		return errors.New("ffmpeg exited while the recording was stopping")
	}
	if old := s.file; old != nil {
		s.setFile(nil)
		old.end(time.Now().Add(killGrace), 0, false, s.log) // it died: reap it
		text := fileFailure(old, "")
		lastText = text
		noSpace := isNoSpace(old)
		if noSpace {
			text = fmt.Sprintf("record dir %s: no space left on device; %s", s.r.cfg.Dir, text)
			lastText = text
		}
		healthy := old.ready() && time.Since(old.launched) >= healthyAfter
		s.log.Error("ffmpeg died", "recording_id", old.id, "path", old.path, "error", text, "stderr", old.tail.Tail(8))
		s.finishFile(ctx, old, endFailed, time.Now().Add(killGrace), text)
		if old.index == 0 && !old.ready() {
			return &sessionFailure{text}
		}
		if noSpace && (!s.r.cfg.Continuous || s.r.prune() == 0) {
			return &sessionFailure{text}
		}
		if healthy {
			s.failures = 0
			s.restart.Reset()
		}
		s.failures++
		s.mu.Lock()
		s.lastErr = text
		s.mu.Unlock()
	}
	for {
		if s.failures > maxRestarts {
			return &sessionFailure{fmt.Sprintf("ffmpeg failed %d times in a row, giving up: %s", s.failures, lastText)}
		}
		if s.failures > 1 {
			wait := s.restart.Next()
			s.log.Warn("restarting ffmpeg after a pause", "in_s", wait.Seconds(), "failures", s.failures)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.stopCh:
				t.Stop()
				return errors.New("stopped while restarting ffmpeg")
			}
		}
		nf, err := s.r.openFile(s, s.nextIndex, k, s.slotTime(k), s.lastID, s.spec)
		if err != nil {
			lastText = err.Error()
			if errors.Is(err, syscall.ENOSPC) && (!s.r.cfg.Continuous || s.r.prune() == 0) {
				return &sessionFailure{lastText}
			}
			s.failures++
			continue
		}
		s.r.restarts.Add(1)
		s.setFile(nf)
		s.log.Info("recording continues in a new file", "new_recording_id", nf.id, "path", nf.path,
			"restarts", s.r.restarts.Load())
		return nil
	}
}

// syncLoop flushes the file being written to the disk every FsyncInterval,
// so that a power cut loses at most that much (plus what ffmpeg holds: up
// to one fragment of an MP4).
func (s *session) syncLoop(stop <-chan struct{}) {
	t := time.NewTicker(s.r.cfg.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.mu.Lock()
			f := s.file
			s.mu.Unlock()
			if f != nil {
				if err := syncFile(f.path); err != nil {
					s.log.Debug("fsync recording", "path", f.path, "error", err.Error())
				} else {
					s.syncedAt.Store(time.Now().UnixNano())
				}
			}
		}
	}
}

// syncFile flushes path's data to the disk (fsync on any descriptor of a
// file flushes all of it).
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

type endReason int

const (
	endStop     endReason = iota // SetActive(false), a segment's end
	endShutdown                  // Run's ctx is done
	endFailed                    // ffmpeg or the writer gave up
)

// finishFile waits (until deadline, or stopDeadline after ffmpeg's last
// sign of work if later, except at shutdown; then SIGINT, then SIGKILL)
// for f's ffmpeg to finish the file after its stdin was closed, then
// records the outcome in the catalogue, remuxes an MP4 and publishes the
// file's event once it is final (fileEnded). errText is a failure already
// known; the returned text is f's failure, "" if none.
func (s *session) finishFile(ctx context.Context, f *segFile, why endReason, deadline time.Time, errText string) string {
	r := s.r
	// A backlog of frames (a slow machine) is worked through: ffmpeg has
	// stopDeadline after each sign of work (see encoder.end); at shutdown
	// the deadline holds.
	patience := stopDeadline
	if why == endShutdown {
		patience = 0
	}
	stopErr := f.end(deadline, patience, true, s.log)
	if errText == "" && (why == endFailed || f.exitErr != nil || stopErr != "") {
		errText = fileFailure(f, stopErr)
		if isNoSpace(f) {
			errText = fmt.Sprintf("record dir %s: no space left on device; %s", r.cfg.Dir, errText)
		}
	}
	var size int64
	if fi, err := os.Stat(f.path); err == nil {
		size = fi.Size()
	}
	if f.frames == 0 || size == 0 {
		// ffmpeg never got a frame or never opened its output (a bad
		// encoder): there is no recording to keep, only our empty file.
		gotFrame := false
		select {
		case <-s.firstFrame:
			gotFrame = true
		default:
		}
		if errText == "" || (!gotFrame && why != endFailed) {
			// ffmpeg's complaint about an empty input is a consequence.
			errText = "no frame arrived from the camera: nothing was recorded"
		}
		r.cat.Forget(f.id, f.path)
		s.log.Warn("recording discarded", "recording_id", f.id, "path", f.path, "error", errText, "stderr", f.tail.Tail(6))
		if f.final {
			r.fileEnded(ctx, events.Event{Type: events.RecordingFailed, Error: errText})
		}
		return errText
	}
	if err := syncFile(f.path); err != nil {
		s.log.Warn("fsync recording", "path", f.path, "error", err.Error())
	}
	started := f.startAt
	dur := float64(f.frames) / s.fps
	if f.spec.H264() && !f.lastAt.IsZero() {
		// Frames are not resampled: the file lasts from its first frame
		// to its last, plus that frame's nominal time.
		dur = f.lastAt.Sub(f.startAt).Seconds() + 1/s.fps
	}
	ended := started.Add(time.Duration(dur * float64(time.Second)))
	meta := store.Sidecar{
		StartedAt: started,
		EndedAt:   &ended,
		State:     store.RecStateComplete,
		Error:     errText,
		Codec:     videoCodecName(r.cfg.Codec, f.spec),
		Container: r.cfg.Container,
		Width:     f.width,
		Height:    f.height,
		Frames:    uint64(f.frames),
		FPS:       s.fps,
		DurationS: dur,
		// Fragmented until remuxLater has made it a plain MP4.
		Fragmented: r.cfg.Container == "mp4",
		PrevID:     f.prevID,
	}
	if errText != "" {
		meta.State = store.RecStateFailed
		if f.exitErr != nil && r.cfg.FFmpeg != "" {
			// ffmpeg died: what is in the file is what ffprobe reads.
			if d := r.cat.ProbeDuration(ctx, f.path); d > 0 {
				meta.DurationS = d
			}
		}
	}
	if err := r.cat.Put(r.cfg.Camera, f.id, f.path, meta, size); err != nil {
		s.log.Warn("write sidecar", "recording_id", f.id, "error", err.Error())
	}
	r.counted(meta.State, size)
	e := events.Event{Type: events.SegmentClosed, RecordingID: f.id, Path: f.path, DurationS: meta.DurationS, Bytes: size, Error: errText}
	switch {
	case errText != "":
		e.Type = events.RecordingFailed
	case f.final:
		e.Type = events.RecordingStopped
	}
	attrs := []any{"recording_id", f.id, "path", f.path, "frames", f.frames,
		"duration_s", defs.RoundTo(meta.DurationS, 3), "bytes", size, "dropped", s.sub.Dropped()}
	if f.repeats > 0 {
		// Slots whose frame repeated the one before and was not handed to
		// ffmpeg (it was behind): the file holds frames - repeats.
		attrs = append(attrs, "repeats_left_out", f.repeats)
	}
	if errText != "" {
		s.log.Debug("ffmpeg output", "recording_id", f.id, "stderr", f.tail.Tail(0))
		s.log.Error("recording failed", append(attrs, "error", errText)...)
	} else {
		s.log.Info("recording stopped", attrs...)
	}
	// The event (hooks, webhook, SSE, MQTT) goes out once the file is
	// final: after its remux, at shutdown too (see Run).
	r.fileEnded(ctx, e)
	return errText
}

// fileFailure describes why f's ffmpeg failed, with its last words.
func fileFailure(f *segFile, stopErr string) string {
	var parts []string
	switch {
	case stopErr != "":
		parts = append(parts, stopErr)
	case f.exitErr != nil:
		parts = append(parts, "ffmpeg exited: "+f.exitErr.Error())
	default:
		parts = append(parts, "ffmpeg exited unexpectedly")
	}
	if t := f.tail.Problems(6); t != "" {
		parts = append(parts, "ffmpeg said: "+t)
	}
	return strings.Join(parts, "; ")
}

// isNoSpace reports whether f's ffmpeg failed for want of disk space.
func isNoSpace(f *segFile) bool {
	return strings.Contains(f.tail.Tail(0), "No space left on device")
}
