// Command restreamcpu measures what restreaming costs: the CPU time of
// camrec and its ffmpeg children while they record a 720p30 MJPEG camera
// continuously and publish it to a local MediaMTX,
//
//   - shared: camrec's restream (-restream): one x264 encode feeds the
//     recording and the restream;
//   - separate: camrec records (its own x264 encode) and an ffmpeg reads
//     camrec's MJPEG preview and encodes it a second time for MediaMTX,
//     which is how a camrec without restream is published;
//
// alternating A B A B, and in the shared runs the latency from a frame's
// capture in camrec to its arrival at an RTSP reader of MediaMTX (the
// capture-time SEI camrec stamps into each restreamed frame). The camera
// is an ffmpeg writing testsrc2 as MJPEG into a FIFO (pipe: source), paced
// at the source rate; its CPU, MediaMTX's and the reader's are not counted.
//
//	go build -o /tmp/camrec . && go run ./test/bench/restreamcpu -camrec /tmp/camrec -duration 20s
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/camrec/camrec/internal/flv"
	"github.com/camrec/camrec/internal/h264"
	"github.com/camrec/camrec/internal/procstat"
	"github.com/camrec/camrec/pipeline/restream"
)

func main() {
	home, _ := os.UserHomeDir()
	bin := flag.String("camrec", "./camrec", "camrec binary")
	mtxBin := flag.String("mediamtx", filepath.Join(home, ".cache", "camrec", "bin", "mediamtx"), "MediaMTX binary (make mediamtx)")
	dur := flag.Duration("duration", 20*time.Second, "measurement window")
	size := flag.String("size", "1280x720", "frame size")
	fps := flag.String("fps", "30", "frame rate")
	rounds := flag.Int("rounds", 2, "rounds of A B")
	flag.Parse()
	cpu := map[string]float64{}
	var lat [2][]time.Duration // RTSP, RTMP
	for range *rounds {
		for _, m := range []string{"shared", "separate"} {
			pct, l, err := run(*bin, *mtxBin, m, *size, *fps, *dur)
			if err != nil {
				fmt.Fprintln(os.Stderr, "restreamcpu:", err)
				os.Exit(1)
			}
			cpu[m] += pct / float64(*rounds)
			lat[0], lat[1] = append(lat[0], l[0]...), append(lat[1], l[1]...)
		}
	}
	fmt.Printf("mean over %d rounds: shared encode %.1f%%, two encodes %.1f%% of one core (ratio %.2f)\n",
		*rounds, cpu["shared"], cpu["separate"], cpu["shared"]/cpu["separate"])
	for i, via := range []string{"RTSP", "RTMP"} {
		l := lat[i]
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		q := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))].Microseconds()) / 1000 }
		fmt.Printf("capture → %s reader through MediaMTX (shared runs, %d frames): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
			via, len(l), q(0.5), q(0.9), q(0.99), q(1))
	}
}

// run measures one mode for dur after a warm-up: the CPU of camrec, its
// children and (mode separate) the second encoder in % of one core, and
// (mode shared) the latency of each frame the reader got in the window.
func run(bin, mtxBin, mode, size, fps string, dur time.Duration) (float64, [2][]time.Duration, error) {
	var none [2][]time.Duration
	dir, err := os.MkdirTemp("", "restreamcpu-")
	if err != nil {
		return 0, none, err
	}
	defer os.RemoveAll(dir)
	rtspPort, rtmpPort, apiPort, httpPort := freePort(), freePort(), freePort(), freePort()
	conf := filepath.Join(dir, "mediamtx.yml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("logLevel: warn\napi: no\napiAddress: 127.0.0.1:%d\nrtspTransports: [tcp]\nrtspAddress: 127.0.0.1:%d\n"+
		"rtmp: yes\nrtmpAddress: 127.0.0.1:%d\nhls: no\nwebrtc: no\nsrt: no\npaths:\n  all_others:\n", apiPort, rtspPort, rtmpPort)), 0o600); err != nil {
		return 0, none, err
	}
	var procs []*exec.Cmd
	var stdout io.Reader // of the last command started with pipeOut
	pipeOut := false
	start := func(name string, args ...string) (*exec.Cmd, error) {
		c := exec.Command(name, args...)
		c.Stderr = os.Stderr
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if pipeOut {
			out, err := c.StdoutPipe()
			if err != nil {
				return nil, err
			}
			stdout = out
		}
		if err := c.Start(); err != nil {
			return nil, err
		}
		procs = append(procs, c)
		return c, nil
	}
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			_ = procs[i].Process.Signal(syscall.SIGTERM)
			_ = procs[i].Wait()
		}
	}()
	if _, err := start(mtxBin, conf); err != nil {
		return 0, none, fmt.Errorf("mediamtx: %w", err)
	}
	fifo := filepath.Join(dir, "camera.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return 0, none, err
	}
	url := fmt.Sprintf("rtsp://127.0.0.1:%d/cam", rtspPort)
	args := []string{"-device", "pipe:" + fifo, "-size", size, "-fps", fps, "-listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"-record-dir", filepath.Join(dir, "rec"), "-continuous", "-log-level", "warn"}
	if mode == "shared" {
		args = append(args, "-restream", url)
	}
	camrec, err := start(bin, args...)
	if err != nil {
		return 0, none, err
	}
	if _, err := start("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate="+fps, "-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg", "-y", fifo); err != nil {
		return 0, none, err
	}
	var second *exec.Cmd
	if mode == "separate" {
		waitListen(httpPort)
		second, err = start("ffmpeg", "-hide_banner", "-nostdin", "-v", "error",
			"-f", "mpjpeg", "-i", fmt.Sprintf("http://127.0.0.1:%d/stream.mjpg", httpPort),
			"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", fps, "-pix_fmt", "yuv420p",
			"-f", "rtsp", "-rtsp_transport", "tcp", url)
		if err != nil {
			return 0, none, err
		}
	}
	time.Sleep(3 * time.Second) // the publisher connects before the reader asks
	// Two viewers: RTSP (an ffmpeg, whose H.264 parser holds each frame
	// until the next one begins, as many RTSP players do) and RTMP (FLV:
	// frames arrive whole).
	rd, rdRTMP := &reader{}, &reader{}
	pipeOut = true
	if _, err := start("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-fflags", "nobuffer",
		"-i", url, "-c", "copy", "-flush_packets", "1", "-f", "flv", "pipe:1"); err != nil {
		return 0, none, err
	}
	go rd.read(stdout)
	if _, err := start("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-fflags", "nobuffer",
		"-i", fmt.Sprintf("rtmp://127.0.0.1:%d/cam", rtmpPort), "-c", "copy", "-flush_packets", "1", "-f", "flv", "pipe:1"); err != nil {
		return 0, none, err
	}
	go rdRTMP.read(stdout)

	time.Sleep(5 * time.Second) // warm-up
	measured := func() time.Duration {
		t := procstat.Tree(camrec.Process.Pid)
		if second != nil {
			t += procstat.Of(second.Process.Pid)
		}
		return t
	}
	t0, w0 := measured(), time.Now()
	rd.window(true)
	rdRTMP.window(true)
	time.Sleep(dur)
	rd.window(false)
	rdRTMP.window(false)
	t1, wall := measured(), time.Since(w0)
	pct := 100 * (t1 - t0).Seconds() / wall.Seconds()
	frames, lat := rd.result()
	_, latRTMP := rdRTMP.result()
	what := map[string]string{"shared": "restream + recording, one encode", "separate": "recording + a second ffmpeg encoding the preview"}[mode]
	fmt.Printf("%-50s %s@%s: %.1f%% of one core over %v; reader got %d frames (%.1f fps)\n",
		what, size, fps, pct, wall.Round(time.Millisecond), frames, float64(frames)/wall.Seconds())
	return pct, [2][]time.Duration{lat, latRTMP}, nil
}

// reader counts the frames that arrive in the window and their latency.
type reader struct {
	mu     sync.Mutex
	on     bool
	frames int
	lat    []time.Duration
}

func (r *reader) window(on bool) {
	r.mu.Lock()
	r.on = on
	r.mu.Unlock()
}

func (r *reader) result() (int, []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames, r.lat
}

func (r *reader) read(out io.Reader) {
	rd := flv.NewReader(out, 8<<20)
	for {
		v, err := rd.Next()
		if err != nil {
			_, _ = io.Copy(io.Discard, out)
			return
		}
		now := time.Now()
		r.mu.Lock()
		if r.on {
			r.frames++
			it := h264.Iter(v.Data)
			for nal, ok := it.Next(); ok; nal, ok = it.Next() {
				if at, ok := restream.CaptureTime(nal); ok {
					r.lat = append(r.lat, now.Sub(at))
				}
			}
		}
		r.mu.Unlock()
	}
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListen(port int) {
	for range 100 {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
