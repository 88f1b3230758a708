// This file holds the remux of finished recordings: a fragmented MP4
// becomes a plain one, an MKV cut short by a crash gets its duration.

package record

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/pipeline/store"
)

// remuxLater turns a finished fragmented MP4 (or an MKV cut short) into
// its final form in the background (see ffmpegArgs for why). The recording
// stays listed and playable meanwhile, and may be deleted (the remux is
// then thrown away). It returns at once; Run waits for r.post.
func (r *Recorder) remuxLater(ctx context.Context, id, path string) {
	if r.beginRemux(id) {
		r.post.Go(func() { r.remux(ctx, id, path) })
	}
}

// beginRemux reports whether recording id needs a remux and marks it busy
// for it. The catalogue refuses what needs no remux (a complete MKV or
// AVI).
func (r *Recorder) beginRemux(id string) bool {
	return r.cfg.FFmpeg != "" && r.cat.BeginRemux(id)
}

// remux runs the remux that beginRemux began and hands its outcome to the
// catalogue.
func (r *Recorder) remux(ctx context.Context, id, path string) {
	t0 := time.Now()
	tmp := store.RemuxTemp(path)
	err := remuxRecording(ctx, r.cfg.FFmpeg, path, tmp)
	if err != nil && ctx.Err() != nil {
		// Shutdown, past shutdownRemuxGrace: the next start remuxes it.
		err = fmt.Errorf("%w: %w", errRemuxShutdown, err)
	}
	r.remuxEnded(id, path, t0, err)
}

// errRemuxShutdown: camrec stopped before the remux was done.
var errRemuxShutdown = errors.New("camrec is stopping")

// fileEnded publishes e, the event of a file that ended (segment_closed,
// recording_stopped, recording_failed), once the file is in its final
// form: after its remux, which it starts. So a hook, the webhook and the
// event's listeners see the file that stays on disk and that the API
// serves (a hook that moves it away does not race the remux); when the
// remux fails, the file as it was recorded, which plays too. The events
// of one recorder go out in the order their files ended, whatever their
// remuxes take. It returns at once; Run waits for r.post.
func (r *Recorder) fileEnded(ctx context.Context, e events.Event) {
	remux := e.RecordingID != "" && r.beginRemux(e.RecordingID)
	r.pubMu.Lock()
	prev := r.pubPrev
	done := make(chan struct{})
	r.pubPrev = done
	r.pubMu.Unlock()
	r.post.Go(func() {
		defer close(done)
		if remux {
			r.remux(ctx, e.RecordingID, e.Path)
		}
		if prev != nil {
			<-prev
		}
		if e.RecordingID != "" {
			if rec, err := r.cat.Get(e.RecordingID); err == nil {
				e.Bytes = rec.Bytes // its final size
			} else {
				// Deleted meanwhile (by the user or retention): the
				// recording ended, but there is no file to hand on.
				e.Path, e.Bytes = "", 0
			}
		}
		r.publish(e)
	})
}

// remuxEnded hands the outcome of the remux of id (started at t0) to the
// catalogue and logs what became of the recording.
func (r *Recorder) remuxEnded(id, path string, t0 time.Time, remuxErr error) {
	err := r.cat.EndRemux(id, store.RemuxTemp(path), remuxErr)
	switch {
	case errors.Is(err, errRemuxShutdown):
		r.log.Info("remux cut short by the shutdown: the file stays as recorded (it plays) and is remuxed at the next start",
			"recording_id", id, "path", path)
	case errors.Is(err, store.ErrRemuxDiscarded):
		// A delete (the user's or retention's) won: nothing is left to keep.
		attrs := []any{"recording_id", id, "path", path}
		if remuxErr != nil {
			attrs = append(attrs, "remux_error", remuxErr.Error())
		}
		r.log.Info("recording deleted during remux; remux result discarded", attrs...)
	case err != nil:
		r.log.Warn("remux recording failed: keeping the original file", "recording_id", id, "path", path, "error", err.Error())
	default:
		r.log.Info("recording remuxed", "recording_id", id, "path", path, "took_s", defs.RoundTo(time.Since(t0).Seconds(), 3))
	}
}

// remuxArgs returns the arguments of the ffmpeg that copies the finished
// fragmented MP4 src into a plain MP4 dst with its index up front, which
// browsers read a duration from and seek in.
func remuxArgs(src, dst string) []string {
	return ffmpeg.Input(src).
		Output(dst, ffmpeg.KwArgs{"format": "mp4", "c": "copy", "movflags": "+faststart"}).
		GlobalArgs("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y").
		GetArgs()
}

// remuxMP4 runs ffmpeg to remux src into dst. Cancelling ctx kills it; dst
// is then incomplete and src untouched.
func remuxMP4(ctx context.Context, ffmpegPath, src, dst string) error {
	return runRemux(ctx, ffmpegPath, src, remuxArgs(src, dst))
}

// remuxRecording rewrites the finished recording src into dst (its
// remuxTemp) with ffmpeg copying the streams, in src's own container: a
// fragmented MP4 becomes a plain one (remuxMP4); an MKV cut short gets the
// duration, seek index and sizes ffmpeg writes when it ends a file.
// Cancelling ctx kills ffmpeg; dst is then incomplete and src untouched.
func remuxRecording(ctx context.Context, ffmpegPath, src, dst string) error {
	switch filepath.Ext(src) {
	case ".mp4":
		return remuxMP4(ctx, ffmpegPath, src, dst)
	case ".mkv":
		return runRemux(ctx, ffmpegPath, src, remuxMKVArgs(src, dst))
	}
	return fmt.Errorf("remux %s: not an MP4 nor an MKV", src)
}

// remuxMKVArgs returns the arguments of the ffmpeg that copies the MKV src,
// cut short, into a complete MKV dst.
func remuxMKVArgs(src, dst string) []string {
	return ffmpeg.Input(src).
		Output(dst, ffmpeg.KwArgs{"format": "matroska", "c": "copy"}).
		GlobalArgs("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y").
		GetArgs()
}

// runRemux runs ffmpeg with args, a remux of src, in its own process
// group; its error carries the last lines ffmpeg printed.
func runRemux(ctx context.Context, ffmpegPath, src string, args []string) error {
	cmd := exec.CommandContext(ctx, ffmpegPath, args...)
	tail := newTailWriter()
	cmd.Stderr = tail
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = killGrace
	if err := cmd.Run(); err != nil {
		if t := tail.Tail(4); t != "" { // -loglevel error: only problems
			return fmt.Errorf("remux %s: %w: %s", src, err, t)
		}
		return fmt.Errorf("remux %s: %w", src, err)
	}
	return nil
}
