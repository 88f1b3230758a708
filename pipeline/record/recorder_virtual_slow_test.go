// A machine slower than its encoder, on virtual time (see
// recorder_virtual_test.go): the file keeps its length with fewer frames,
// the stop works through the encoder's backlog, the user is told why and
// what to change.

package record

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camrec/camrec/pipeline/store"
)

// vtMKVFrames reads the Matroska stream a stamped encoder was given (the
// fake writes its input into its file as it is): each frame's time in ms.
func vtMKVFrames(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vint := func(b []byte, keepMarker bool) (v uint64, n int, ok bool) {
		if len(b) == 0 || b[0] == 0 {
			return 0, 0, false
		}
		n = 1
		for b[0]&(0x80>>(n-1)) == 0 {
			n++
		}
		if len(b) < n {
			return 0, 0, false
		}
		for i := range n {
			v = v<<8 | uint64(b[i])
		}
		if !keepMarker {
			v &^= 1 << (7 * n)
		}
		return v, n, true
	}
	var times []int64
	var walk func(b []byte)
	walk = func(b []byte) {
		for len(b) > 0 {
			id, n, ok := vint(b, true)
			if !ok {
				t.Fatalf("%s: bad element ID at % x", path, b[:min(8, len(b))])
			}
			size, m, ok := vint(b[n:], false)
			if !ok {
				t.Fatalf("%s: bad size of element %x", path, id)
			}
			body := b[n+m:]
			if size != 1<<(7*m)-1 { // known size
				if uint64(len(body)) < size {
					t.Fatalf("%s: element %x of %d bytes cut short", path, id, size)
				}
				body = body[:size]
			}
			switch id {
			case mkvSegment, mkvCluster:
				walk(body)
			case mkvTimestamp:
				var v uint64
				for _, c := range body {
					v = v<<8 | uint64(c)
				}
				times = append(times, int64(v))
			}
			b = b[n+m+len(body):]
		}
	}
	walk(b)
	return times
}

// TestVirtualStampedInputEveryFrameWhileKeepingUp: an encoding recording
// (stamped input) on a machine that keeps up gets every slot as a frame,
// at its slot's time: a constant rate, as before.
func TestVirtualStampedInputEveryFrameWhileKeepingUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := vtStart(t, RecorderConfig{Container: "mkv", Codec: "libx264"}, &fakeEncoders{})
		e.set(t, true)
		time.Sleep(10 * time.Second)
		e.set(t, false)
		files := e.files()
		if len(files) != 1 || files[0].State != store.RecStateComplete {
			t.Fatalf("files %+v, want one, complete", files)
		}
		f := files[0]
		times := vtMKVFrames(t, filepath.Join(e.cat.Dir(), "cam0", f.ID))
		slots := int(math.Round(f.DurationS * vtFPS))
		if len(times) != slots || slots < 299 {
			t.Fatalf("%d frames given to the encoder for %d slots (%.3f s); want one per slot", len(times), slots, f.DurationS)
		}
		for k, ms := range times {
			if want := int64(math.Round(float64(k) * 1000 / vtFPS)); ms != want {
				t.Fatalf("frame %d at %d ms, want %d", k, ms, want)
			}
		}
	})
}

// TestVirtualSlowEncoderDropsFramesNotTime: the camera delivers 30 fps,
// the encoder takes 5 frames a second. The recorder's queue overflows
// (counted in status), repeats are not handed to the encoder, and the
// writer stays within a few seconds of the camera. The stop works
// through the backlog without a signal: the file is complete, lasts exactly the time recorded (every slot, with
// its last frame at the last slot), with far fewer frames, never more
// than a second apart. The log says what to change.
func TestVirtualSlowEncoderDropsFramesNotTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ran = 30 * time.Second
		// One read a frame (a frame is less than the fake's 64 KiB read).
		enc := &fakeEncoders{readDelay: 200 * time.Millisecond}
		e := vtStart(t, RecorderConfig{Container: "mkv", Codec: "libx264"}, enc)
		asked := time.Now()
		e.set(t, true)
		time.Sleep(ran)
		during := e.r.Status()
		stopAt := time.Now()
		if _, err := e.r.SetActive(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		for e.r.Status().State == RecorderFinishing {
			time.Sleep(100 * time.Millisecond)
		}
		finishing := time.Since(stopAt)
		synctest.Wait()

		st := e.r.Status()
		files := e.files()
		if len(files) != 1 || st.State != RecorderIdle || st.Error != "" {
			t.Fatalf("status %+v, files %+v; want idle and one file", st, files)
		}
		f := files[0]
		if f.State != store.RecStateComplete || f.Error != "" {
			t.Errorf("file %s: %s (%s), want complete", f.ID, f.State, f.Error)
		}
		if sig := enc.encoders()[0].gotSignals(); len(sig) != 0 {
			t.Errorf("the encoder got %v; a backlog is worked through, not interrupted", sig)
		}
		// Frames dropped, not time: the file covers the request (its first
		// frame is the first captured after it) to the stop.
		if want := stopAt.Sub(asked).Seconds(); f.DurationS > want || f.DurationS < want-1.0/vtFPS-0.001 {
			t.Errorf("file lasts %.3f s, recorded %.3f s", f.DurationS, want)
		}
		if during.Dropped == 0 || st.Dropped < during.Dropped {
			t.Errorf("dropped %d while recording, %d after: want the drops counted", during.Dropped, st.Dropped)
		}
		times := vtMKVFrames(t, filepath.Join(e.cat.Dir(), "cam0", f.ID))
		slots := int64(math.Round(f.DurationS * vtFPS))
		if len(times) == 0 || int64(len(times)) > slots/3 {
			t.Fatalf("%d frames given to the encoder for %d slots; want at most a third (it takes 5 fps of 30)", len(times), slots)
		}
		if last, want := times[len(times)-1], int64(math.Round(float64(slots-1)*1000/vtFPS)); last != want {
			t.Errorf("last frame at %d ms, want the last slot's %d ms (the file lasts every slot)", last, want)
		}
		for i := 1; i < len(times); i++ {
			if d := times[i] - times[i-1]; d <= 0 || d > 1000 {
				t.Errorf("frames %d and %d are %d ms apart; want 1 to 1000 (at 5 fps, about 200)", i-1, i, d)
			}
		}
		// The backlog at the stop is at most the queue's frames captured
		// before the stop (those captured after push them out): the stop
		// is over well within stopDeadline.
		if finishing >= stopDeadline {
			t.Errorf("finishing took %v, want less than %v", finishing, stopDeadline)
		}
		log := e.log.String()
		for _, want := range []string{
			`msg="recorder is too slow, discarding frames"`,
			`ffmpeg encodes slower than the camera delivers: the file keeps its length with fewer frames`,
			`codec copy with container mkv`, `a smaller size or a lower fps`,
		} {
			if !strings.Contains(log, want) {
				t.Errorf("the log does not say %q", want)
			}
		}
		if n := strings.Count(log, "ffmpeg encodes slower than the camera"); n != 1 {
			t.Errorf("the hint is logged %d times, want once", n)
		}
	})
}

// TestVirtualStopWaitsForEncoderProgress: an encoder that works on after
// its input is closed (frames in its own buffers) and shows it (its file
// grows) is given stopDeadline after each sign of progress, not
// stopDeadline in all: it finishes the file, which is complete. One that
// shows nothing gets SIGINT stopDeadline after the stop
// (TestVirtualStopEscalation).
func TestVirtualStopWaitsForEncoderProgress(t *testing.T) {
	for _, backlog := range []time.Duration{stopDeadline / 2, 3 * stopDeadline} {
		t.Run(fmt.Sprint(backlog), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				enc := &fakeEncoders{backlog: backlog}
				e := vtStart(t, RecorderConfig{Container: "mkv", Codec: "libx264"}, enc)
				e.set(t, true)
				time.Sleep(3 * time.Second)
				asked := time.Now()
				if _, err := e.r.SetActive(context.Background(), false); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				fe := enc.encoders()[0]
				if sig := fe.gotSignals(); len(sig) != 0 {
					t.Errorf("signals %v, want none", sig)
				}
				if took := fe.endedAt().Sub(asked); took < backlog {
					t.Errorf("the encoder ended %v after the stop, before its backlog of %v", took, backlog)
				}
				if files := e.files(); len(files) != 1 || files[0].State != store.RecStateComplete {
					t.Errorf("files %+v, want one, complete", files)
				}
			})
		})
	}
}

// TestVirtualStopWaitsWhileEncoderTakesFrames: an encoder that takes a
// frame every 5 s still takes them after the stop: the writer hands it
// what was captured before the stop for longer than stopDeadline, and its
// input is not closed under it (that would lose the frames and end the
// file failed): the file is complete, no signal sent.
func TestVirtualStopWaitsWhileEncoderTakesFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		enc := &fakeEncoders{readDelay: 5 * time.Second}
		e := vtStart(t, RecorderConfig{Container: "mkv", Codec: "libx264"}, enc)
		e.set(t, true)
		time.Sleep(20 * time.Second)
		stopAt := time.Now()
		if _, err := e.r.SetActive(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		for e.r.Status().State == RecorderFinishing {
			time.Sleep(100 * time.Millisecond)
		}
		finishing := time.Since(stopAt)
		synctest.Wait()
		files := e.files()
		if len(files) != 1 || files[0].State != store.RecStateComplete || files[0].Error != "" {
			t.Fatalf("files %+v, want one, complete", files)
		}
		if sig := enc.encoders()[0].gotSignals(); len(sig) != 0 {
			t.Errorf("signals %v, want none", sig)
		}
		if log := e.log.String(); strings.Contains(log, "does not take frames") {
			t.Errorf("the input was closed under a working encoder")
		}
		if finishing <= stopDeadline {
			t.Errorf("finishing took %v: the case is an encoder still taking frames after stopDeadline", finishing)
		}
	})
}
