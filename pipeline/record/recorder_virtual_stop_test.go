// Stopping on virtual time (see recorder_virtual_test.go): a stop while
// the encoder is slower than the camera, and the stop escalation.

package record

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camrec/camrec/pipeline/store"
)

// TestVirtualSlowEncoderStops: with an encoder slower than the camera (the
// writer never catches up with its queue), a stop still ends the file at
// the stop: it holds what was recorded until then, is complete, not failed
// after stopDeadline, and the recorder is idle.
func TestVirtualSlowEncoderStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ran = 3 * time.Second
		// Each frame takes two reads of 64 KiB or more: 2 × 40 ms per frame,
		// 12.5 fps for a 30 fps camera.
		enc := &fakeEncoders{readDelay: 40 * time.Millisecond}
		e := vtStart(t, RecorderConfig{}, enc)
		e.set(t, true)
		asked := time.Now()
		time.Sleep(ran)
		if _, err := e.r.SetActive(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		stopped := time.Since(asked)
		for e.r.Status().State == RecorderFinishing {
			time.Sleep(100 * time.Millisecond)
		}
		st := e.r.Status()
		files := e.files()
		if len(files) != 1 || st.State != RecorderIdle {
			t.Fatalf("status %+v, files %+v; want idle and one file", st, files)
		}
		f := files[0]
		if f.State != store.RecStateComplete || f.DurationS > stopped.Seconds()+1.0/vtFPS {
			t.Errorf("file %s: %s, %.3f s (%s); want complete, at most the %.3f s recorded", f.ID, f.State, f.DurationS, f.Error, stopped.Seconds())
		}
		if took := time.Since(asked) - stopped; took >= stopDeadline {
			t.Errorf("finishing took %v: the stop waited for stopDeadline", took)
		}
	})
}

// TestVirtualStopEscalation: an ffmpeg that does not finish its file after
// its input is closed gets SIGINT exactly stopDeadline after the stop, and
// SIGKILL killGrace later if it ignores that; the stop answers at once
// (finishing meanwhile) and the recording ends failed, saying why.
func TestVirtualStopEscalation(t *testing.T) {
	tests := []struct {
		name        string
		deaf        bool
		wantSignals []string
		finishing   time.Duration
	}{
		{"finishes on SIGINT", false, []string{"interrupt"}, stopDeadline},
		{"ignores SIGINT", true, []string{"interrupt", "killed"}, stopDeadline + killGrace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				enc := &fakeEncoders{hang: true, deaf: tc.deaf}
				e := vtStart(t, RecorderConfig{}, enc)
				e.set(t, true)
				time.Sleep(2 * time.Second)
				asked := time.Now()
				st, err := e.r.SetActive(context.Background(), false)
				if err != nil || st.Active || st.State != RecorderFinishing || time.Since(asked) != stopAnswerGrace {
					t.Fatalf("stop answered %+v, %v after %v; want finishing after %v", st, err, time.Since(asked), stopAnswerGrace)
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				if took := enc.encoders()[0].diedAt().Sub(asked); took != tc.finishing {
					t.Errorf("ffmpeg ended %v after the stop, want %v", took, tc.finishing)
				}
				var got []string
				for _, s := range enc.encoders()[0].gotSignals() {
					got = append(got, strings.Fields(s)[0])
				}
				if !slices.Equal(got, tc.wantSignals) {
					t.Errorf("signals %v, want %v", enc.encoders()[0].gotSignals(), tc.wantSignals)
				}
				st = e.r.Status()
				if st.State != RecorderFailed || !strings.Contains(st.Error, "did not finish within") {
					t.Errorf("status %+v, want failed: did not finish", st)
				}
				if files := e.files(); len(files) != 1 || files[0].State != store.RecStateFailed {
					t.Errorf("files %+v, want one, failed", files)
				}
			})
		})
	}
}
