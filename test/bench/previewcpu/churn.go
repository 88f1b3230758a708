package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camrec/camrec/internal/procstat"
)

// Clients that come and go in churn: one connects every churnEvery and
// stays 1 to 10 s, at most churnMax at a time.
const (
	churnEvery = 500 * time.Millisecond
	churnMax   = 20
)

// churn serves steady clients plus clients that come and go for dur, and
// prints camrec's memory every sample: RSS, anonymous RSS, the Go heap in
// use and the goroutines (the last two from /metrics). Memory that grows
// with the number of clients served, not with the number connected, is a
// leak.
func churn(bin string, steady int, dur, sample time.Duration, size, fps string) error {
	cmd, url, err := start(bin, []string{"-device", "test:", "-size", size, "-fps", fps, "-listen", "127.0.0.1:0",
		"-record-dir", os.TempDir() + "/previewcpu-rec", "-max-clients", "256", "-log-level", "info"})
	if err != nil {
		return err
	}
	defer stop(cmd)
	pid := cmd.Process.Pid

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := &tally{}
	var served atomic.Int64
	var wg sync.WaitGroup
	for range steady {
		wg.Go(func() { _ = client(ctx, url+"/stream.mjpg", false, got) })
	}
	slots := make(chan struct{}, churnMax)
	wg.Go(func() {
		t := time.NewTicker(churnEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			select {
			case slots <- struct{}{}:
			default:
				continue // churnMax connected
			}
			stay := time.Second + rand.N(9*time.Second)
			wg.Go(func() {
				defer func() { <-slots }()
				cctx, ccancel := context.WithTimeout(ctx, stay)
				defer ccancel()
				_ = client(cctx, url+"/stream.mjpg", false, got)
				served.Add(1)
			})
		}
	})

	fmt.Printf("camrec test: %s@%s fps, %d steady preview clients, one more every %v staying 1-10 s (at most %d), %v\n",
		size, fps, steady, churnEvery, churnMax, dur)
	fmt.Println("| minutes | clients served | RSS MB | RssAnon MB | Go heap in use MB | goroutines |")
	fmt.Println("|---|---|---|---|---|---|")
	var anon []float64
	report := func(el time.Duration) {
		rss, a, _ := procstat.Memory(pid)
		heap, gs := goMemory(url + "/metrics")
		anon = append(anon, a)
		fmt.Printf("| %.0f | %d | %.1f | %.1f | %.1f | %.0f |\n", el.Minutes(), served.Load(), rss, a, heap/(1<<20), gs)
	}
	t0 := time.Now()
	t := time.NewTicker(sample)
	for end := time.After(dur); ; {
		select {
		case <-t.C:
			report(time.Since(t0))
			continue
		case <-end:
		}
		break
	}
	t.Stop()
	cancel()
	wg.Wait()
	if len(anon) > 1 {
		lo, hi := anon[0], anon[0]
		for _, a := range anon {
			lo, hi = min(lo, a), max(hi, a)
		}
		fmt.Printf("RssAnon: first %.1f MB, last %.1f MB, range %.1f-%.1f MB; %d clients came and went; %.1f frames/s delivered in all\n",
			anon[0], anon[len(anon)-1], lo, hi, served.Load(), float64(got.frames.Load())/time.Since(t0).Seconds())
	}
	return nil
}

// goMemory reads go_memstats_heap_inuse_bytes and go_goroutines from
// camrec's /metrics (zeros if it cannot).
func goMemory(url string) (heapInuse, goroutines float64) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			heapInuse, _ = strconv.ParseFloat(value, 64)
		case "go_goroutines":
			goroutines, _ = strconv.ParseFloat(value, 64)
		}
	}
	return heapInuse, goroutines
}
