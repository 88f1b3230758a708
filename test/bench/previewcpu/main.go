// Command previewcpu measures the CPU time camrec itself (not ffmpeg, not
// the clients) uses to serve N live-preview clients: it starts the camrec
// binary on the test camera, connects N MJPEG clients over loopback, and
// reads camrec's utime+stime from /proc before and after the window.
//
//	go build -o /tmp/camrec . && go run ./test/bench/previewcpu -camrec /tmp/camrec -clients 10 -duration 30s
//
// It also prints the latency from capture (a part's X-Timestamp) to a
// client's receipt of the part.
//
// -baseline BIN alternates the binary with another build, A B A B, and
// prints the ratio; -churn 1h serves N steady clients and others coming
// and going, and prints camrec's memory every -sample (make bench-churn);
// -compare-auth runs without and with every client logging in;
// -compare-integrations runs without and with camrec linked to a local
// Mosquitto (MQTT and Home Assistant discovery) and /metrics scraped every
// 5 s, alternating A B A B, and prints the ratio.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/camrec/camrec/internal/procstat"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	bin := flag.String("camrec", "./camrec", "camrec binary")
	clients := flag.Int("clients", 10, "preview clients")
	dur := flag.Duration("duration", 30*time.Second, "measurement window")
	size := flag.String("size", "1280x720", "frame size")
	fps := flag.String("fps", "30", "frame rate")
	compareAuth := flag.Bool("compare-auth", false, "run twice, without auth and with every client logging in (HTTP Basic, bcrypt cost 12), and print the ratio")
	compareIntegrations := flag.Bool("compare-integrations", false, "run A B A B: plain, then with MQTT (a local mosquitto) and /metrics scraped every 5 s, and print the ratio")
	churnFor := flag.Duration("churn", 0, "instead: serve -clients steady clients and others coming and going for this long, printing camrec's memory every -sample")
	sample := flag.Duration("sample", time.Minute, "with -churn: how often memory is read")
	baseline := flag.String("baseline", "", "run A B A B: -camrec, then this other camrec binary (a build before a change), and print the ratio")
	flag.Parse()
	if *churnFor > 0 {
		if err := churn(*bin, *clients, *churnFor, *sample, *size, *fps); err != nil {
			fmt.Fprintln(os.Stderr, "previewcpu:", err)
			os.Exit(1)
		}
		return
	}
	modes := []mode{{}}
	switch {
	case *compareAuth:
		modes = []mode{{}, {auth: true}}
	case *compareIntegrations:
		modes = []mode{{}, {integrations: true}, {}, {integrations: true}}
	case *baseline != "":
		modes = []mode{{}, {baseline: true}, {}, {baseline: true}}
	}
	used := map[bool]time.Duration{} // by "the second kind"
	for _, m := range modes {
		b := *bin
		if m.baseline {
			b = *baseline
		}
		fmt.Println("binary:", b)
		u, err := run(b, *clients, *dur, *size, *fps, m)
		if err != nil {
			fmt.Fprintln(os.Stderr, "previewcpu:", err)
			os.Exit(1)
		}
		used[m.auth || m.integrations || m.baseline] += u
	}
	switch {
	case *compareAuth:
		fmt.Printf("auth/no-auth CPU ratio: %.2f\n", used[true].Seconds()/used[false].Seconds())
	case *compareIntegrations:
		fmt.Printf("with MQTT+metrics / plain CPU ratio: %.2f\n", used[true].Seconds()/used[false].Seconds())
	case *baseline != "":
		fmt.Printf("CPU -camrec / -baseline: %v / %v = %.2f\n", used[false].Round(time.Millisecond), used[true].Round(time.Millisecond), used[false].Seconds()/used[true].Seconds())
	}
}

// mode is what one run adds to plain preview.
type mode struct {
	baseline     bool // the -baseline binary, plain
	auth         bool // every client logs in with HTTP Basic
	integrations bool // MQTT to a local mosquitto, /metrics scraped every 5 s
}

// mosquitto starts an anonymous broker on a free loopback port and
// returns its URL and a stop function.
func mosquitto() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "previewcpu-mqtt")
	if err != nil {
		return "", nil, err
	}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n", port)
	if err := os.WriteFile(dir+"/mosquitto.conf", []byte(conf), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("/usr/sbin/mosquitto", "-c", dir+"/mosquitto.conf")
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("mosquitto (Debian package mosquitto): %w", err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
	for range 100 {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			return fmt.Sprintf("mqtt://127.0.0.1:%d", port), stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("mosquitto did not listen")
}

// benchUser and benchPass log the clients in when auth is on.
const (
	benchUser = "bench"
	benchPass = "bench-password-1"
)

// authFile writes an auth file with one operator at bcrypt cost 12.
func authFile() (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPass), 12)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "previewcpu-auth")
	if err != nil {
		return "", err
	}
	p := dir + "/auth.yaml"
	body := fmt.Sprintf("users:\n  - {name: %s, password_hash: %q, role: viewer}\n", benchUser, hash)
	return p, os.WriteFile(p, []byte(body), 0o600)
}

func run(bin string, clients int, dur time.Duration, size, fps string, m mode) (time.Duration, error) {
	withAuth := m.auth
	args := []string{"-device", "test:", "-size", size, "-fps", fps, "-listen", "127.0.0.1:0",
		"-record-dir", os.TempDir() + "/previewcpu-rec", "-log-level", "info"}
	if m.integrations {
		broker, stop, err := mosquitto()
		if err != nil {
			return 0, err
		}
		defer stop()
		f, err := os.CreateTemp("", "previewcpu-*.yaml")
		if err != nil {
			return 0, err
		}
		defer os.Remove(f.Name())
		fmt.Fprintf(f, "mqtt:\n  url: %s\n  client_id: camrec-bench\n", broker)
		f.Close()
		args = append(args, "-config", f.Name())
	}
	if withAuth {
		p, err := authFile()
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(p[:strings.LastIndexByte(p, '/')])
		args = append(args, "-auth-file", p)
	}
	cmd, url, err := start(bin, args)
	if err != nil {
		return 0, err
	}
	defer stop(cmd)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := &tally{}
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := client(ctx, url+"/stream.mjpg", withAuth, got); err != nil && ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "client:", err)
			}
		}()
	}
	if m.integrations {
		wg.Add(1)
		go func() { defer wg.Done(); scrape(ctx, url+"/metrics", 5*time.Second) }()
	}
	time.Sleep(2 * time.Second) // warm-up: clients connected and streaming
	t0, f0, b0 := procstat.Of(cmd.Process.Pid), got.frames.Load(), got.bytes.Load()
	start := time.Now()
	got.measuring.Store(true)
	time.Sleep(dur)
	got.measuring.Store(false)
	t1, f1, b1 := procstat.Of(cmd.Process.Pid), got.frames.Load(), got.bytes.Load()
	wall := time.Since(start)
	cancel()
	wg.Wait()
	used := t1 - t0
	what := "no auth"
	switch {
	case withAuth:
		what = "HTTP Basic auth"
	case m.integrations:
		what = "MQTT to mosquitto, /metrics scraped every 5 s"
	}
	fmt.Printf("camrec test: %s@%s fps, %d preview clients (%s), %v window\n", size, fps, clients, what, wall.Round(time.Millisecond))
	fmt.Printf("frames delivered: %d (%.1f fps per client), %.1f MB/s\n",
		f1-f0, float64(f1-f0)/wall.Seconds()/float64(clients), float64(b1-b0)/wall.Seconds()/1e6)
	fmt.Printf("camrec CPU: %v = %.2f%% of one core\n", used.Round(time.Millisecond), 100*used.Seconds()/wall.Seconds())
	p50, p99, n := got.latency()
	fmt.Printf("latency (capture to a client's receipt of the part's last byte): p50 %.1f ms, p99 %.1f ms over %d frames\n", p50, p99, n)
	return used, nil
}

// scrape GETs url every interval until ctx is done, as Prometheus would.
func scrape(ctx context.Context, url string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// start runs camrec with args and returns it and its base URL once it
// listens; stop ends it.
func start(bin string, args []string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	url, err := waitURL(stderr)
	if err != nil {
		stop(cmd)
		return nil, "", err
	}
	go io.Copy(io.Discard, stderr)
	return cmd, url, nil
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

var urlRE = regexp.MustCompile(`url=(http://[^ ]+)/`)

func waitURL(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("camrec exited before listening")
}

// tally is what the clients received: frames, bytes and, while measuring,
// each frame's latency (the receipt of its part's last byte − the capture
// time in its X-Timestamp header; clients and camrec share the clock).
type tally struct {
	frames, bytes atomic.Int64
	measuring     atomic.Bool
	mu            sync.Mutex
	latMS         []float64
}

func (t *tally) add(n int64, stamp string) {
	t.frames.Add(1)
	t.bytes.Add(n)
	if !t.measuring.Load() {
		return
	}
	secs, err := strconv.ParseFloat(stamp, 64)
	if err != nil {
		return
	}
	lat := float64(time.Now().UnixNano())/1e6 - secs*1e3
	t.mu.Lock()
	t.latMS = append(t.latMS, lat)
	t.mu.Unlock()
}

// latency returns the p50 and p99 of the latencies recorded, in ms.
func (t *tally) latency() (p50, p99 float64, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.latMS) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(t.latMS)
	slices.Sort(s)
	q := func(f float64) float64 { return s[int(f*float64(len(s)-1))] }
	return q(0.5), q(0.99), len(s)
}

func client(ctx context.Context, url string, withAuth bool, got *tally) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if withAuth {
		req.SetBasicAuth(benchUser, benchPass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stream: %s", resp.Status)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, p)
		if err != nil {
			return err
		}
		got.add(n, p.Header.Get("X-Timestamp"))
	}
}
