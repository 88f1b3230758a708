package motion_test

import (
	"fmt"
	"time"

	"github.com/camrec/camrec/internal/motion"
)

// The loop a camera's detector runs: one Detect and one Observe per
// analysed frame, Flush when the stream ends.
func Example() {
	cfg := motion.Config{
		Zones: []motion.Zone{{Name: "door", Polygon: motion.Polygon{{X: 0.5, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}, {X: 0.5, Y: 1}}}},
	}
	const w, h = 160, 90 // a 1280x720 camera's JPEG at 1/8 scale
	det, err := motion.NewDetector(cfg, w, h)
	if err != nil {
		panic(err)
	}
	tr := motion.NewTracker(cfg, det.ZoneNames())

	start := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	var snapshot time.Time // stands for the JPEG the daemon keeps
	for i := range 100 {   // 20 s at 5 fps
		luma := make([]byte, w*h)
		for p := range luma {
			luma[p] = byte(100 + (p*7)%50) // a still scene
			if x, y := p%w, p/w; i >= 30 && i < 40 && x >= 100+i && x < 120+i && y >= 30 && y < 60 {
				luma[p] = 240 // someone at the door from 6 s to 8 s
			}
		}
		at := start.Add(time.Duration(i) * 200 * time.Millisecond)
		res, err := det.Detect(luma, at)
		if err != nil {
			panic(err)
		}
		u := tr.Observe(res)
		if u.Ended {
			ev := u.EndedEvent
			fmt.Printf("ended: %v to %v, peak %.1f%%, zones %v, snapshot of %v\n",
				ev.Start.Sub(start), ev.End.Sub(start), ev.Peak, ev.Zones, snapshot.Sub(start))
		}
		if u.NewPeak {
			snapshot = at // keep this frame's JPEG
		}
		if u.Started {
			fmt.Printf("started at %v (reported at %v)\n", u.Event.Start.Sub(start), at.Sub(start))
		}
	}
	if ev, ok := tr.Flush(); ok {
		fmt.Println("flushed", ev.Start.Sub(start))
	}
	// Output:
	// started at 6s (reported at 6.2s)
	// ended: 6s to 7.8s, peak 4.2%, zones [door], snapshot of 6s
}
