// This file holds how a session writes an H.264 camera's frames: not
// resampled (a frame cannot be repeated or dropped without breaking the
// ones that refer to it) but each with its capture time, in FLV (package internal/flv);
// files start at keyframes, and so do segment cuts.

package record

import (
	"context"
	"fmt"
	"time"

	"github.com/camrec/camrec/internal/flv"
	"github.com/camrec/camrec/internal/h264"
	"github.com/camrec/camrec/pipeline"
)

// acceptH264 writes the access unit f: from the first keyframe captured at
// or after the request (or in the pre-record), then every unit, except
// that after a lost unit (the queue overflowed) it goes on at the next
// keyframe. The maximum duration ends the recording at any frame; a
// segment boundary (every Segment from the first frame) cuts at the first
// keyframe from it (or up to cutEarly before it), so a segment lasts up to
// one GOP longer than asked, and the next one as much shorter: with a
// keyframe every second or two and segments of minutes, the files are
// Segment long on average and never drift from the grid.
func (s *session) acceptH264(ctx context.Context, f *pipeline.Frame) error {
	s.lastRecv = time.Now()
	if !s.baseTimeSet() && len(s.pre) == 0 && f.Time.Before(s.requested) {
		return nil // captured before the request
	}
	if d := s.sub.Dropped(); d != s.dropSeen {
		s.dropSeen = d
		s.needKey = true
	}
	if s.needKey && !f.Key {
		return nil
	}
	if !s.baseTimeSet() {
		s.baseTime = f.Time
		if s.r.cfg.Segment > 0 {
			s.nextCut = f.Time.Add(s.r.cfg.Segment)
		}
		s.firstNanos.Store(f.Time.UnixNano())
		close(s.firstFrame)
	}
	if s.r.cfg.MaxDuration > 0 && f.Time.Sub(s.baseTime) >= s.r.cfg.MaxDuration {
		return errMaxDuration
	}
	k := int64(s.frames.Load())
	// A keyframe a little before the boundary counts as on time: one due
	// at the boundary may be captured early (jitter, a loaded machine).
	if early := f.Time.Add(cutEarly(s.r.cfg.Segment)); f.Key && !s.nextCut.IsZero() && !early.Before(s.nextCut) {
		for !early.Before(s.nextCut) {
			s.nextCut = s.nextCut.Add(s.r.cfg.Segment)
		}
		if s.file != nil && s.file.frames > 0 {
			if err := s.rotateAt(ctx, k, f.Time); err != nil {
				return err
			}
		}
	}
	if in := specOf(f); in != s.spec || (s.file != nil && s.file.spec != in) {
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
		if s.file.frames == 0 && !f.Key {
			s.needKey = true // a new file starts at a keyframe
			return nil
		}
		s.needKey = false
		buf := s.flvBuf[:0]
		if s.file.frames == 0 {
			in := h264.Inspect(f.Raw)
			if in.SPS == nil || in.PPS == nil {
				return &sessionFailure{fmt.Sprintf("camera %s: an H.264 keyframe without SPS/PPS (none seen yet): cannot start a file", s.r.cfg.Camera)}
			}
			buf = flv.AppendHeader(buf, in.SPS, in.PPS)
			s.file.startAt = f.Time
			s.lastMs = -1
		}
		// Strictly increasing milliseconds: two units read from a pipe at
		// once are stamped microseconds apart, and muxers refuse equal
		// timestamps.
		ms := max(f.Time.Sub(s.file.startAt).Milliseconds(), s.lastMs+1)
		s.lastMs = ms
		buf = flv.AppendVideo(buf, f.Raw, f.Key, ms)
		s.flvBuf = buf
		_, err := s.file.in.Write(buf)
		if err == nil {
			s.fed()
			break
		}
		if s.stopping() {
			return fmt.Errorf("write to ffmpeg: %w", err)
		}
		// EPIPE: ffmpeg is gone. The frame goes to the next file, if it is
		// a keyframe.
		if err := s.replace(ctx, k); err != nil {
			return err
		}
	}
	if s.file.frames == 0 {
		s.file.width, s.file.height = f.Width, f.Height
	}
	s.file.lastAt = f.Time
	s.file.frames++
	if s.frames.Add(1) == 1 {
		s.latency.Store(int64(time.Since(s.requested)))
	}
	return nil
}

// cutEarly is how long before a segment boundary a keyframe may come and
// still start the next segment: a quarter of a segment, at most 0.5 s.
func cutEarly(segment time.Duration) time.Duration {
	return min(segment/4, 500*time.Millisecond)
}

// baseTimeSet reports whether the recording's first frame was written.
func (s *session) baseTimeSet() bool { return s.firstNanos.Load() != 0 }
