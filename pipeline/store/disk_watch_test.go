package store

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camrec/camrec/internal/testutil"
)

func TestDiskWatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bytes   int64
		percent float64
		free    []int64 // per minute, of a 1000-byte disk
		want    []int64 // the free bytes Low was called with
	}{
		{"fall, hover, recover, fall", 0, 10, []int64{500, 99, 95, 105, 99, 120, 50}, []int64{99, 50}},
		{"bytes threshold", 200, 10, []int64{300, 150, 150}, []int64{150}},
		{"larger of the two", 50, 30, []int64{250, 400}, []int64{250}},
		{"never low", 0, 10, []int64{900, 800}, nil},
		{"off", 0, 0, []int64{0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				step, got := 0, []int64(nil)
				w := DiskWatch{Dir: "/rec", Bytes: tc.bytes, Percent: tc.percent, Every: time.Minute,
					Free: func(string) (int64, int64, error) {
						mu.Lock()
						defer mu.Unlock()
						return tc.free[min(step, len(tc.free)-1)], 1000, nil
					},
					Low: func(free int64) { mu.Lock(); got = append(got, free); mu.Unlock() },
				}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() { w.Run(ctx, testutil.Logger(t)); close(done) }()
				for range tc.free {
					synctest.Wait()
					mu.Lock()
					step++
					mu.Unlock()
					time.Sleep(time.Minute)
				}
				cancel()
				<-done
				if !slices.Equal(got, tc.want) {
					t.Errorf("low at %v, want %v", got, tc.want)
				}
			})
		})
	}
}
