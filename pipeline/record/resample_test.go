package record

import (
	"math"
	"testing"
	"time"

	"github.com/camrec/camrec/pipeline"
)

// TestResampler feeds frames with chosen capture times (all at once, as a
// burst would arrive) and checks the slot sequence: count == duration × fps,
// and each slot carries the latest frame captured by half a period after
// its time.
func TestResampler(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 53, 0, 0, time.UTC)
	ms := func(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }
	tests := []struct {
		name   string
		fps    float64
		times  []time.Duration // capture times of the frames, from t0
		stop   time.Duration
		want   int   // slots
		wantIx []int // optional: frame index carried by each slot
	}{
		{
			name: "camera at the output rate", fps: 10,
			times: []time.Duration{0, ms(100), ms(200), ms(300), ms(400)},
			stop:  ms(500), want: 5, wantIx: []int{0, 1, 2, 3, 4},
		},
		{
			name: "jitter stays one frame per slot", fps: 10,
			times: []time.Duration{0, ms(140), ms(190), ms(260), ms(420)},
			stop:  ms(500), want: 5, wantIx: []int{0, 1, 2, 3, 4},
		},
		{
			name: "slow camera repeats frames", fps: 30,
			times: []time.Duration{0, ms(100), ms(200)},
			stop:  ms(300), want: 9, wantIx: []int{0, 0, 0, 1, 1, 1, 2, 2, 2},
		},
		{
			name: "fast camera skips frames", fps: 10,
			times: []time.Duration{0, ms(50), ms(100), ms(150), ms(200), ms(250)},
			stop:  ms(300), want: 3, wantIx: []int{1, 3, 5}, // ties go to the later frame
		},
		{
			name: "stop right after the first frame", fps: 30,
			times: []time.Duration{0}, stop: ms(1), want: 1, wantIx: []int{0},
		},
		{
			name: "camera stops delivering: last frame fills to the stop", fps: 25,
			times: []time.Duration{0, ms(40)}, stop: 2 * time.Second, want: 50,
		},
		{
			name: "out of order frame ignored", fps: 10,
			times: []time.Duration{0, ms(100), ms(50), ms(200)},
			stop:  ms(300), want: 3, wantIx: []int{0, 1, 3},
		},
		{
			name: "fractional rate", fps: 30000.0 / 1001,
			times: []time.Duration{0}, stop: 10 * time.Second, want: 300,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames := make([]*pipeline.Frame, len(tt.times))
			index := map[*pipeline.Frame]int{}
			for i, d := range tt.times {
				frames[i] = &pipeline.Frame{Seq: uint64(i), Time: t0.Add(d)}
				index[frames[i]] = i
			}
			rs := newResampler(tt.fps)
			var got []int
			emit := func(r run) {
				for range r.n {
					got = append(got, index[r.f])
				}
			}
			for _, f := range frames {
				emit(rs.Push(f))
			}
			emit(rs.Finish(t0.Add(tt.stop)))
			if len(got) != tt.want {
				t.Fatalf("%d slots, want %d (%v)", len(got), tt.want, got)
			}
			if want := int(math.Ceil(tt.stop.Seconds() * tt.fps)); len(got) != want {
				t.Errorf("%d slots for %s at %g fps, want %d", len(got), tt.stop, tt.fps, want)
			}
			if tt.wantIx != nil {
				for i := range tt.wantIx {
					if got[i] != tt.wantIx[i] {
						t.Fatalf("slot frames %v, want %v", got, tt.wantIx)
					}
				}
			}
			if more := rs.Finish(t0.Add(tt.stop)); more.n != 0 {
				t.Errorf("second Finish emitted %d more", more.n)
			}
		})
	}
}

// TestResamplerFlushKeepsAStalledRecordingGrowing: with no new frame, Flush
// emits the slots up to its time, and the next frame continues from there
// without emitting any slot twice.
func TestResamplerFlushKeepsAStalledRecordingGrowing(t *testing.T) {
	t0 := time.Now()
	rs := newResampler(10)
	if r := rs.Flush(t0.Add(time.Hour)); r.n != 0 {
		t.Fatalf("Flush before the first frame emitted %d", r.n)
	}
	a, b := &pipeline.Frame{Time: t0}, &pipeline.Frame{Time: t0.Add(3 * time.Second)}
	rs.Push(a)
	r := rs.Flush(t0.Add(2 * time.Second))
	if r.f != a || r.n != 20 {
		t.Fatalf("Flush = %d of %p, want 20 of the first frame", r.n, r.f)
	}
	r = rs.Push(b)
	if r.f != a || r.n != 10 {
		t.Fatalf("Push after Flush = %d, want 10 more of the first frame", r.n)
	}
	r = rs.Finish(t0.Add(4 * time.Second))
	if r.f != b || r.n != 10 || rs.Emitted() != 40 {
		t.Fatalf("Finish = %d of %p (total %d), want 10 of the second, 40 total", r.n, r.f, rs.Emitted())
	}
}
