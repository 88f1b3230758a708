// Command previewcpu measures the CPU time camrec itself (not ffmpeg, not
// the clients) uses to serve N live-preview clients: it starts the camrec
// binary on the test camera, connects N MJPEG clients over loopback, and
// reads camrec's utime+stime from /proc before and after the window.
//
//	go build -o /tmp/camrec . && go run ./test/bench/previewcpu -camrec /tmp/camrec -clients 10 -duration 30s
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("camrec", "./camrec", "camrec binary")
	clients := flag.Int("clients", 10, "preview clients")
	dur := flag.Duration("duration", 30*time.Second, "measurement window")
	size := flag.String("size", "1280x720", "frame size")
	fps := flag.String("fps", "30", "frame rate")
	flag.Parse()
	if err := run(*bin, *clients, *dur, *size, *fps); err != nil {
		fmt.Fprintln(os.Stderr, "previewcpu:", err)
		os.Exit(1)
	}
}

func run(bin string, clients int, dur time.Duration, size, fps string) error {
	cmd := exec.Command(bin, "-device", "test:", "-size", size, "-fps", fps, "-listen", "127.0.0.1:0",
		"-record-dir", os.TempDir()+"/previewcpu-rec", "-log-level", "info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	url, err := waitURL(stderr)
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, stderr)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var frames, bytes atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := client(ctx, url+"/stream.mjpg", &frames, &bytes); err != nil && ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "client:", err)
			}
		}()
	}
	time.Sleep(2 * time.Second) // warm-up: clients connected and streaming
	t0, f0, b0 := cpuTime(cmd.Process.Pid), frames.Load(), bytes.Load()
	start := time.Now()
	time.Sleep(dur)
	t1, f1, b1 := cpuTime(cmd.Process.Pid), frames.Load(), bytes.Load()
	wall := time.Since(start)
	cancel()
	wg.Wait()
	used := t1 - t0
	fmt.Printf("camrec test: %s@%s fps, %d preview clients, %v window\n", size, fps, clients, wall.Round(time.Millisecond))
	fmt.Printf("frames delivered: %d (%.1f fps per client), %.1f MB/s\n",
		f1-f0, float64(f1-f0)/wall.Seconds()/float64(clients), float64(b1-b0)/wall.Seconds()/1e6)
	fmt.Printf("camrec CPU: %v = %.2f%% of one core\n", used.Round(time.Millisecond), 100*used.Seconds()/wall.Seconds())
	return nil
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

func client(ctx context.Context, url string, frames, bytes *atomic.Int64) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
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
		frames.Add(1)
		bytes.Add(n)
	}
}

// cpuTime is the process's user+system time from /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz
}
