// This file holds a session's writer: frames from the hub, resampled to
// the recording's rate, into ffmpeg's stdin; where a file is cut (the
// segment boundary, the maximum duration) and a format change. What
// happens when the camera goes away is in camera_away.go.

package record

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"math"
	"time"

	"github.com/camrec/camrec/pipeline"
)

// writeLoop feeds ffmpeg: it resamples the frames from the hub to the output
// rate and writes them until asked to stop, the maximum duration is reached,
// or it gives up.
//
// A camera that goes away (unplugged, stalled, its stream restarted) ends
// the file being written, and the recording goes on in a new file, linked
// to it, when frames return (see pause). How the writer knows:
//   - the camera reports itself disconnected or in error (cameraStatuser)
//     and nothing came for awayGrace: checked every tick, so the file is
//     finished within ~0.5 s of an unplug, while the camera is still away;
//   - a frame arrives after a gap and the camera's restart count moved: the
//     stream was interrupted in between, however short the interruption
//     (vivid's Disconnect is back within 0.3 s, faster than a tick may see
//     the state);
//   - nothing came for StallTimeout (any source): until then the slots are
//     filled with the last frame (stallGrace), as for a camera that slows
//     down, so a file never holds more than StallTimeout of frozen picture.
//
// A camera that merely slows down (low light, dropped buffers) changes
// neither its state nor its restart count: its frames are resampled into
// the same file.
func (s *session) writeLoop(ctx context.Context) error {
	s.rs = newResampler(s.fps)
	s.queue = s.sub.Frames()
	s.period = time.Duration(float64(time.Second) / s.fps)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for _, f := range s.pre {
		if err := s.accept(ctx, f); err != nil {
			return err
		}
	}
	s.pre = nil
	for {
		// A stop comes first: with an ffmpeg slower than the camera, frames
		// and ticks are always ready too, and the stop would wait its turn
		// (seen taking seconds, the file growing past the stop).
		if s.stopping() {
			return s.writeToStop(ctx)
		}
		var exited <-chan struct{}
		if s.file != nil {
			exited = s.file.exited
		}
		select {
		case f := <-s.queue:
			if err := s.fromQueue(ctx, f); err != nil {
				return err
			}
		case now := <-tick.C:
			if err := s.tick(ctx, now); err != nil {
				return err
			}
		case <-exited:
			// ffmpeg died on its own: go on in a new file right away.
			if err := s.replace(ctx, int64(s.frames.Load())); err != nil {
				return err
			}
		case <-s.stopCh:
			return s.writeToStop(ctx)
		}
	}
}

// fromQueue takes a frame from the subscription: it is written unless it
// is in the pre-record already or was captured after a stop.
func (s *session) fromQueue(ctx context.Context, f *pipeline.Frame) error {
	if !s.cut.IsZero() && !f.Time.After(s.cut) {
		return nil // already in the pre-record
	}
	if s.stopping() && f.Time.After(s.stopAt) {
		return nil // captured after the stop
	}
	return s.accept(ctx, f)
}

// accept resamples f into the file: it starts the recording's clock at the
// first frame, opens the next file when the camera is back, pauses when a
// gap in the frames comes with a restarted stream.
func (s *session) accept(ctx context.Context, f *pipeline.Frame) error {
	if f.PixFmt == pipeline.PixFmtH264 {
		return s.acceptH264(ctx, f)
	}
	s.lastRecv = time.Now()
	if f.Raw != nil && !rawSizeOK(f) {
		if !s.badFrames {
			s.badFrames = true
			s.log.Warn("raw frames of the wrong size are left out of the recording",
				"pix_fmt", f.PixFmt, "width", f.Width, "height", f.Height, "bytes", len(f.Raw))
		}
		return nil
	}
	gapCheck := max(3*s.period, 100*time.Millisecond)
	if s.rs.Started() && !s.away && f.Time.Sub(s.rs.LastTime()) > gapCheck && s.cameraRestarted() {
		if err := s.pause(ctx, "the camera's stream was interrupted"); err != nil {
			return err
		}
	}
	if !s.rs.Started() {
		if !s.away && len(s.pre) == 0 && f.Time.Before(s.requested) {
			return nil // captured before the request
		}
		if s.away && !f.Time.After(s.pausedAfter) {
			return nil // older than what is recorded already
		}
		s.rs.Push(f)
		s.baseSlot, s.baseTime = int64(s.frames.Load()), f.Time
		if s.away {
			return s.resume(ctx, f)
		}
		s.firstNanos.Store(f.Time.UnixNano())
		close(s.firstFrame)
		return nil
	}
	return s.write(ctx, s.rs.Push(f))
}

// tick comes four times a second: frames already queued are written first,
// then the camera's absence is checked, then slots older than stallGrace
// are filled with the last frame.
func (s *session) tick(ctx context.Context, now time.Time) error {
	if err := s.drainQueued(ctx); err != nil {
		return err
	}
	if s.rs.Started() && !s.away {
		idle := now.Sub(s.lastRecv)
		if state := s.cameraGone(); state != "" && idle > awayGrace {
			return s.pause(ctx, "camera "+state)
		}
		if idle >= s.r.cfg.StallTimeout {
			return s.pause(ctx, "no frame for "+idle.Round(100*time.Millisecond).String())
		}
	}
	return s.write(ctx, s.rs.Flush(now.Add(-stallGrace)))
}

// drainQueued writes the frames queued now, not those that arrive
// meanwhile: with an ffmpeg slower than the camera the queue never
// empties, and the writer must get back to its loop to see a stop.
func (s *session) drainQueued(ctx context.Context) error {
	for n := len(s.queue); n > 0 && !s.stopping(); n-- {
		select {
		case f := <-s.queue:
			if err := s.fromQueue(ctx, f); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

// writeToStop writes the queued frames captured up to the stop (skipping
// later ones) and the slots up to it.
func (s *session) writeToStop(ctx context.Context) error {
	for {
		select {
		case f := <-s.queue:
			if err := s.fromQueue(ctx, f); err != nil {
				return err
			}
		default:
			return s.write(ctx, s.rs.Finish(s.stopAt))
		}
	}
}

// rawSizeOK reports whether f's raw image has the size its fields say (a
// frame of another size would shift every later frame in ffmpeg's input).
func rawSizeOK(f *pipeline.Frame) bool {
	if f.Width <= 0 || f.Height <= 0 || f.PixFmt == "" {
		return false
	}
	return f.PixFmt != "yuyv422" || len(f.Raw) == 2*f.Width*f.Height
}

// respec goes on from slot k in a new file whose ffmpeg reads in: the
// frames changed format (the camera came back in another size), or the
// first file's ffmpeg was started, before the first frame, for another
// format than the camera's. A file that got no frame yet is discarded.
func (s *session) respec(ctx context.Context, k int64, in inputSpec) error {
	if err := copyError(s.r.cfg, in); err != nil {
		return &sessionFailure{err.Error()}
	}
	s.spec = in
	old := s.file
	if old == nil {
		return nil // the next file is opened for s.spec
	}
	s.log.Info("the camera's frames changed format: the recording goes on in a new file", "from", old.spec.String(), "to", in.String())
	s.setFile(nil)
	if old.frames == 0 {
		s.nextIndex, s.lastID = old.index, old.prevID
		s.discardLater(old)
		if old.index == 0 {
			close(s.respecced)
		}
	} else {
		s.finishLater(ctx, old, endStop, "")
	}
	nf, err := s.r.openFile(s, s.nextIndex, k, s.slotTime(k), s.lastID, in)
	if err != nil {
		s.log.Error("start ffmpeg for the new format", "error", err.Error())
		return s.replace(ctx, k)
	}
	s.setFile(nf)
	return nil
}

// write writes the slots of rn, cutting files at segment boundaries and
// replacing a dead ffmpeg.
func (s *session) write(ctx context.Context, rn run) error {
	if rn.n == 0 {
		return nil
	}
	in := specOf(rn.f)
	payload := framePayload(rn.f)
	for range rn.n {
		k := int64(s.frames.Load())
		if s.maxSlots > 0 && k >= s.maxSlots {
			return errMaxDuration
		}
		if s.segSlots > 0 && (k-s.baseSlot)%s.segSlots == 0 && s.file != nil && s.file.firstSlot < k {
			if err := s.rotate(ctx, k); err != nil {
				return err
			}
		}
		if in != s.spec || (s.file != nil && s.file.spec != in) {
			if err := s.respec(ctx, k, in); err != nil {
				return err
			}
		}
		for {
			if s.file == nil {
				if err := s.replace(ctx, k); err != nil {
					return err
				}
			}
			if s.file.frames == 0 {
				s.file.startAt = s.slotTime(k)
				s.file.width, s.file.height = in.Width, in.Height
				if !in.Raw() {
					if cfg, err := jpeg.DecodeConfig(bytes.NewReader(rn.f.Data)); err == nil {
						s.file.width, s.file.height = cfg.Width, cfg.Height
					}
				}
			}
			err := s.writeSlot(s.file, k, rn.f, payload)
			if err == nil {
				break
			}
			if s.stopping() {
				return fmt.Errorf("write to ffmpeg: %w", err)
			}
			// EPIPE: ffmpeg is gone. The slot goes to the next file.
			if err := s.replace(ctx, k); err != nil {
				return err
			}
		}
		s.file.frames++
		if s.frames.Add(1) == 1 {
			s.latency.Store(int64(time.Since(s.requested)))
		}
	}
	return nil
}

// writeSlot hands slot k, which shows frame fr (payload), to f's ffmpeg.
// A constant-rate input gets every slot. A stamped one (see stamped) gets
// a frame when it changes, with its slot's time; a slot that repeats the
// frame before it is written too while the writer keeps up with the camera
// (the file then has a constant rate, one frame per slot), and left out
// when it is behind (see behind): ffmpeg is slower than the camera, newer
// frames wait (the queue overflows, see logDrops), and a frame ffmpeg
// need not decode again is time it spends on the next new one. The file
// keeps its length with fewer frames (a frame is shown until the next).
func (s *session) writeSlot(f *segFile, k int64, fr *pipeline.Frame, payload []byte) error {
	if !f.stamped {
		if _, err := f.in.Write(payload); err != nil {
			return err
		}
		s.fed()
		return nil
	}
	if f.frames > 0 && fr == f.shown && s.behind() {
		f.repeats++
		return nil
	}
	buf := s.mkvBuf[:0]
	if f.frames == 0 {
		buf = appendMKVHeader(buf, f.spec, f.width, f.height, s.fps)
	}
	buf = appendMKVFrame(buf, s.slotMillis(k-f.firstSlot), payload)
	s.mkvBuf = buf
	if _, err := f.in.Write(buf); err != nil {
		return err
	}
	s.fed()
	f.shown, f.shownSlot = fr, k
	return nil
}

// behind reports whether the writer is behind the camera: its queue
// overflowed (dropped a frame) within the last behindFor, and newer
// frames wait in it. ffmpeg is then slower than the camera. A camera that
// stalls leaves the queue empty (its slots are filled with repeats, as
// before); a hiccup of ffmpeg that the pipe and the queue absorb drops
// nothing and leaves nothing out.
func (s *session) behind() bool {
	if d := s.sub.Dropped(); d != s.dropsSeen {
		s.dropsSeen, s.droppedAt = d, time.Now()
	}
	return len(s.queue) > 0 && !s.droppedAt.IsZero() && time.Since(s.droppedAt) < behindFor
}

// seal ends the stamped file f before its input is closed: when its last
// slot was a repeat left out, the last frame is written again at that
// slot, so that the file lasts every slot it holds (a frame lasts until
// the next one; ffmpeg gives the last one a frame's length). Writer only.
func (s *session) seal(f *segFile) {
	last := f.firstSlot + f.frames - 1
	if !f.stamped || f.frames == 0 || f.shown == nil || f.shownSlot >= last {
		return
	}
	s.mkvBuf = appendMKVFrame(s.mkvBuf[:0], s.slotMillis(last-f.firstSlot), framePayload(f.shown))
	if _, err := f.in.Write(s.mkvBuf); err == nil {
		s.fed()
		f.shownSlot = last
	}
}

// slotMillis is the time of a file's slot j, in the milliseconds of the
// stamped input.
func (s *session) slotMillis(j int64) int64 {
	return int64(math.Round(float64(j) * 1000 / s.fps))
}

// logDrops reports frames lost to the full queue, at most once per
// dropLogEvery, never per frame; the first time in a recording it says
// what to change. Called by Run (so it works even while the writer is
// stuck in a write).
func (s *session) logDrops(now time.Time) {
	d := s.sub.Dropped()
	if d > s.dropsLogged && now.Sub(s.dropsLoggedAt) >= dropLogEvery {
		s.log.Warn("recorder is too slow, discarding frames", "dropped", d-s.dropsLogged, "dropped_total", d)
		s.dropsLogged, s.dropsLoggedAt = d, now
		if !s.hinted {
			s.hinted = true
			s.slowHint()
		}
	}
}

// slowHint tells the user, once a recording, why frames are dropped and
// what would keep them all.
func (s *session) slowHint() {
	cfg := s.r.cfg
	f := s.r.src.Format()
	size := fmt.Sprintf("%dx%d", f.Width, f.Height)
	if cfg.Codec == "copy" {
		s.log.Warn("the recording cannot keep up with the camera (a slow disk, or a busy machine): the file keeps its length with fewer frames; see recording.dropped",
			"codec", cfg.Codec, "container", cfg.Container, "size", size, "fps", s.fps)
		return
	}
	s.log.Warn("ffmpeg encodes slower than the camera delivers: the file keeps its length with fewer frames (recording.dropped counts them); "+
		"to keep every frame, record without encoding (codec copy with container mkv: -codec copy -container mkv), "+
		"or ask the camera for a smaller size or a lower fps (-size, -fps)",
		"codec", cfg.Codec, "preset", cfg.Preset, "size", size, "fps", s.fps)
}
