package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/procstat"
	"github.com/camrec/camrec/test/vm/internal/frames"
)

// make bench-peers: camrec and µStreamer in turn on the same v4l2loopback
// camera, in this VM. Off unless -peers.bench is given.
var (
	peersBench   = flag.Bool("peers.bench", false, "run TestBenchPeers (make bench-peers)")
	peersSizes   = flag.String("peers.sizes", "640x480,1280x720", "frame sizes, comma-separated")
	peersClients = flag.String("peers.clients", "1,10,50", "client counts, comma-separated")
	peersWarmup  = flag.Duration("peers.warmup", 5*time.Second, "warm-up before each window")
	peersWindow  = flag.Duration("peers.duration", 20*time.Second, "measurement window")
	peersRounds  = flag.Int("peers.rounds", 2, "rounds of A B (camrec, µStreamer) per row")
	// A camrec change measured against the build before it, in the same
	// boot: each round then runs camrec, µStreamer, the other build.
	peersBaseline = flag.String("peers.baseline", "", "another camrec binary (a path on the host outside /tmp, which the VM does not see, e.g. /work/main/before) to run third in each round, with its own table")
)

// peerRun is one server serving n clients for one window.
type peerRun struct {
	Server        string    `json:"server"`
	Size          string    `json:"size"`
	Clients       int       `json:"clients"`
	Round         int       `json:"round"`
	WindowS       float64   `json:"window_s"`
	FramesMin     int       `json:"frames_per_client_min"`
	FramesMean    float64   `json:"frames_per_client_mean"`
	BytesPerS     float64   `json:"bytes_per_s"`
	CPUS          float64   `json:"cpu_s"` // utime+stime of the server in the window
	RSSMB         float64   `json:"rss_mb"`
	AnonMB        float64   `json:"rss_anon_mb"`
	PeakRSSMB     float64   `json:"peak_rss_mb"`
	LatencyMS     []float64 `json:"-"`
	LatencyP50MS  float64   `json:"latency_p50_ms"`
	LatencyP99MS  float64   `json:"latency_p99_ms"`
	StampedFrames int       `json:"stamped_frames"`
}

// TestBenchPeers measures, per frame size and client count, camrec and
// µStreamer (Debian's ustreamer, MJPEG passed through: --format MJPEG
// --encoder HW, no --desired-fps) serving the same v4l2loopback camera
// (mjpegwriter at 30 fps, every frame stamped with its write time), A B A B,
// with this process as the one client of all connections: frames per
// client, bytes/s, server CPU (utime+stime), CPU per MB sent, RSS,
// anonymous RSS, peak RSS, and latency (receipt of a part − the frame's
// stamp). It writes peers.json and peers.md to the out folder.
func TestBenchPeers(t *testing.T) {
	if !*peersBench {
		t.Skip("a benchmark: make bench-peers runs it (-peers.bench)")
	}
	v := needVM(t)
	ustreamer := "/usr/local/bin/ustreamer"
	if _, err := os.Stat(ustreamer); err != nil {
		t.Fatalf("ustreamer is not installed on the host (apt-get install ustreamer): %v", err)
	}
	var runs []peerRun
	for _, size := range strings.Split(*peersSizes, ",") {
		writer := start(t, v, v.writer, "-device", "/dev/video10", "-size", size, "-fps", "30")
		writer.waitOutput(t, "mjpegwriter: streaming", 30*time.Second)
		for _, cs := range strings.Split(*peersClients, ",") {
			n, err := strconv.Atoi(cs)
			if err != nil || n < 1 {
				t.Fatalf("-peers.clients: %q", cs)
			}
			for round := 1; round <= *peersRounds; round++ {
				servers := []string{"camrec", "ustreamer"}
				if *peersBaseline != "" {
					servers = append(servers, "baseline")
				}
				for _, server := range servers {
					r := measurePeer(t, v, server, ustreamer, size, n)
					r.Round = round
					t.Logf("%s %s n=%d round %d: %.1f frames/client (min %d), %.1f MB/s, CPU %.2f s, RSS %.1f MB (anon %.1f, peak %.1f), latency p50 %.1f p99 %.1f ms",
						server, size, n, round, r.FramesMean, r.FramesMin, r.BytesPerS/1e6, r.CPUS, r.RSSMB, r.AnonMB, r.PeakRSSMB, r.LatencyP50MS, r.LatencyP99MS)
					runs = append(runs, r)
				}
			}
		}
		writer.stop(t)
	}
	table := peersTable(runs)
	if *peersBaseline != "" {
		table += "\n" + baselineTable(runs)
	}
	t.Log("\n" + table)
	if v.out != "" {
		b, _ := json.MarshalIndent(runs, "", "  ")
		for name, data := range map[string][]byte{"peers.json": b, "peers.md": []byte(table)} {
			if err := os.WriteFile(filepath.Join(v.out, name), data, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
}

const peersPort = 18300

// measurePeer starts server on the camera, connects n clients, and
// measures one window after the warm-up.
func measurePeer(t *testing.T, v vm, server, ustreamer, size string, n int) peerRun {
	t.Helper()
	w, h, _ := strings.Cut(size, "x")
	addr := fmt.Sprintf("127.0.0.1:%d", peersPort)
	var p *proc
	var url string
	switch server {
	case "camrec", "baseline":
		bin := v.bin
		if server == "baseline" {
			bin = "/host" + *peersBaseline
		}
		p = start(t, v, bin, "-device", "/dev/video10", "-size", size, "-fps", "30", "-listen", addr,
			"-record-dir", t.TempDir(), "-max-clients", "256", "-log-level", "warn")
		url = "http://" + addr + "/stream.mjpg"
	default:
		p = start(t, v, ustreamer, "--device=/dev/video10", "--format=MJPEG", "--encoder=HW",
			"--resolution="+w+"x"+h, "--host=127.0.0.1", "--port="+strconv.Itoa(peersPort), "--log-level=0")
		url = "http://" + addr + "/stream"
	}
	defer p.stop(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var measuring atomic.Bool
	type client struct {
		frames, bytes int
		lat           []float64
	}
	cls := make([]*client, n)
	var wg sync.WaitGroup
	ready := make(chan struct{}, n)
	for i := range cls {
		c := &client{lat: make([]float64, 0, 2048)}
		cls[i] = c
		var once sync.Once
		first := func() { once.Do(func() { ready <- struct{}{} }) }
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := readStream(ctx, url, first, func(part []byte) {
					if !measuring.Load() {
						return
					}
					now := time.Now().UnixNano()
					c.frames++
					c.bytes += len(part)
					if _, ts, ok := frames.Parse(part); ok {
						c.lat = append(c.lat, float64(now-ts)/1e6)
					}
				}); err != nil && ctx.Err() == nil {
					time.Sleep(200 * time.Millisecond) // not up yet: try again
				}
			}
		})
	}
	deadline := time.After(60 * time.Second)
	for range n {
		select {
		case <-ready:
		case <-deadline:
			t.Fatalf("%s: not every client got a frame within 60 s:\n%s", server, p.output.String())
		}
	}
	time.Sleep(*peersWarmup)
	pid := p.cmd.Process.Pid
	cpu0, t0 := procstat.Of(pid), time.Now()
	measuring.Store(true)
	var rss, anon []float64
	tick := time.NewTicker(time.Second)
	for end := time.After(*peersWindow); ; {
		select {
		case <-tick.C:
			r, a, _ := procstat.Memory(pid)
			rss, anon = append(rss, r), append(anon, a)
			continue
		case <-end:
		}
		break
	}
	tick.Stop()
	measuring.Store(false)
	cpu1, win := procstat.Of(pid), time.Since(t0)
	_, _, peak := procstat.Memory(pid)
	cancel()
	wg.Wait()

	r := peerRun{Server: server, Size: size, Clients: n, WindowS: win.Seconds(),
		CPUS: (cpu1 - cpu0).Seconds(), RSSMB: mean(rss), AnonMB: mean(anon), PeakRSSMB: peak, FramesMin: -1}
	var all []float64
	total, bytes := 0, 0
	for _, c := range cls {
		total += c.frames
		bytes += c.bytes
		if r.FramesMin < 0 || c.frames < r.FramesMin {
			r.FramesMin = c.frames
		}
		all = append(all, c.lat...)
	}
	r.FramesMean = float64(total) / float64(n)
	r.BytesPerS = float64(bytes) / win.Seconds()
	r.LatencyMS, r.StampedFrames = all, len(all)
	r.LatencyP50MS, r.LatencyP99MS = percentile(all, 0.5), percentile(all, 0.99)
	return r
}

// readStream reads one multipart MJPEG stream, calling part for each JPEG,
// until ctx ends or the stream does; first is called at the first part.
// It reads each part by its Content-Length (both servers send it) into one
// reused buffer: a frame counts as received when its last byte is read,
// and the client stays cheap enough not to be what limits 50 streams in
// the VM (mime/multipart with a copy per part was, at 720p).
func readStream(ctx context.Context, url string, first func(), part func([]byte)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(mt, "multipart/") {
		return fmt.Errorf("%s: %d %q", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var buf []byte
	for {
		// Headers of the next part: lines up to an empty one; the boundary
		// line and blank lines between parts are skipped.
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return err
			}
			l := strings.TrimSpace(string(line))
			if l == "" && n >= 0 {
				break
			}
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
				if n, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
					return fmt.Errorf("%s: Content-Length %q", url, v)
				}
			}
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return err
		}
		first()
		part(buf)
	}
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// rowStats is one server's figures in one row of the tables.
type rowStats struct {
	fps, mbps, cpu, cpuPerMB, rss, anon, peak, p50, p99 float64
}

// aggregate sums up one server's rounds of one row: means over the
// rounds, latency over all their frames.
func aggregate(rs []peerRun) rowStats {
	var a rowStats
	var lat []float64
	for _, r := range rs {
		a.fps += r.FramesMean / r.WindowS
		a.mbps += r.BytesPerS / 1e6
		a.cpu += r.CPUS
		a.cpuPerMB += r.CPUS / (r.BytesPerS * r.WindowS / 1e6)
		a.rss += r.RSSMB
		a.anon += r.AnonMB
		a.peak = max(a.peak, r.PeakRSSMB)
		lat = append(lat, r.LatencyMS...)
	}
	k := float64(len(rs))
	a.fps, a.mbps, a.cpu, a.cpuPerMB, a.rss, a.anon = a.fps/k, a.mbps/k, a.cpu/k, a.cpuPerMB/k, a.rss/k, a.anon/k
	a.p50, a.p99 = percentile(lat, 0.5), percentile(lat, 0.99)
	return a
}

// byRow groups runs by size and client count, in the order they ran.
func byRow(runs []peerRun) (keys []peerKey, by map[peerKey]map[string][]peerRun) {
	by = map[peerKey]map[string][]peerRun{}
	for _, r := range runs {
		k := peerKey{r.Size, r.Clients}
		if by[k] == nil {
			by[k] = map[string][]peerRun{}
			keys = append(keys, k)
		}
		by[k][r.Server] = append(by[k][r.Server], r)
	}
	return keys, by
}

type peerKey struct {
	size string
	n    int
}

// baselineTable compares this camrec with the -peers.baseline build.
func baselineTable(runs []peerRun) string {
	keys, by := byRow(runs)
	var b strings.Builder
	b.WriteString("| size | N | fps per client camrec / baseline | CPU s camrec / baseline (ratio) | CPU ms per MB camrec / baseline (ratio) | RssAnon MB camrec / baseline | latency p50 ms camrec / baseline | p99 ms camrec / baseline |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, k := range keys {
		c, o := aggregate(by[k]["camrec"]), aggregate(by[k]["baseline"])
		fmt.Fprintf(&b, "| %s | %d | %.1f / %.1f | %.2f / %.2f (%.2f×) | %.1f / %.1f (%.2f×) | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f |\n",
			k.size, k.n, c.fps, o.fps, c.cpu, o.cpu, c.cpu/o.cpu, c.cpuPerMB*1000, o.cpuPerMB*1000, c.cpuPerMB/o.cpuPerMB,
			c.anon, o.anon, c.p50, o.p50, c.p99, o.p99)
	}
	return b.String()
}

// peersTable is the README's table: per size and client count, camrec's
// figures against µStreamer's (means over the rounds; latency over all
// frames of the rounds).
func peersTable(runs []peerRun) string {
	keys, by := byRow(runs)
	var b strings.Builder
	b.WriteString("| size | N | fps per client camrec / µS | MB/s camrec / µS | CPU s camrec / µS (ratio) | CPU ms per MB camrec / µS (ratio) | RSS MB camrec / µS | RssAnon MB camrec / µS | peak RSS MB camrec / µS | latency p50 ms camrec / µS | p99 ms camrec / µS |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range keys {
		c, u := aggregate(by[k]["camrec"]), aggregate(by[k]["ustreamer"])
		fmt.Fprintf(&b, "| %s | %d | %.1f / %.1f | %.1f / %.1f | %.2f / %.2f (%.2f×) | %.1f / %.1f (%.2f×) | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f |\n",
			k.size, k.n, c.fps, u.fps, c.mbps, u.mbps, c.cpu, u.cpu, c.cpu/u.cpu, c.cpuPerMB*1000, u.cpuPerMB*1000, c.cpuPerMB/u.cpuPerMB,
			c.rss, u.rss, c.anon, u.anon, c.peak, u.peak, c.p50, u.p50, c.p99, u.p99)
	}
	return b.String()
}
