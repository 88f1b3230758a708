// Command recordcpu measures what recording costs: the CPU time of camrec
// and its ffmpeg children while they record a 720p30 camera continuously,
// for an H.264 camera copied into MP4 (-format h264 -codec copy) and for an
// MJPEG camera encoded with x264 (the default), alternating A B A B. The
// camera is an ffmpeg writing testsrc2 into a FIFO (pipe: source), paced
// at the source rate; its own CPU is not counted.
//
//	go build -o /tmp/camrec . && go run ./test/bench/recordcpu -camrec /tmp/camrec -duration 20s
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/camrec/camrec/internal/procstat"
)

func main() {
	bin := flag.String("camrec", "./camrec", "camrec binary")
	dur := flag.Duration("duration", 20*time.Second, "measurement window")
	size := flag.String("size", "1280x720", "frame size")
	fps := flag.String("fps", "30", "frame rate")
	rounds := flag.Int("rounds", 2, "rounds of A B")
	flag.Parse()
	used := map[string]float64{}
	for range *rounds {
		for _, m := range []string{"h264", "mjpeg"} {
			pct, err := run(*bin, m, *size, *fps, *dur)
			if err != nil {
				fmt.Fprintln(os.Stderr, "recordcpu:", err)
				os.Exit(1)
			}
			used[m] += pct / float64(*rounds)
		}
	}
	fmt.Printf("mean over %d rounds: H.264 copy %.1f%%, MJPEG→x264 %.1f%% of one core (camrec + ffmpeg children)\n",
		*rounds, used["h264"], used["mjpeg"])
}

// run records camera kind ("h264" or "mjpeg") for dur after a warm-up and
// returns the CPU of camrec and its children in % of one core.
func run(bin, kind, size, fps string, dur time.Duration) (float64, error) {
	dir, err := os.MkdirTemp("", "recordcpu-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	fifo := filepath.Join(dir, "camera.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return 0, err
	}
	// The camera: what a UVC H.264 camera or rpicam-vid sends, or MJPEG.
	camArgs := []string{"-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=" + fps}
	args := []string{"-device", "pipe:" + fifo, "-size", size, "-fps", fps, "-listen", "127.0.0.1:0",
		"-record-dir", filepath.Join(dir, "rec"), "-continuous", "-log-level", "warn"}
	if kind == "h264" {
		camArgs = append(camArgs, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", fps, "-f", "h264", "-y", fifo)
		args = append(args, "-format", "h264", "-codec", "copy")
	} else {
		camArgs = append(camArgs, "-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg", "-y", fifo)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	cam := exec.Command("ffmpeg", camArgs...)
	cam.Stderr = os.Stderr
	if err := cam.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cam.Process.Kill()
		cam.Wait()
	}()
	time.Sleep(3 * time.Second) // warm-up: camera streaming, ffmpeg recording
	t0 := procstat.Tree(cmd.Process.Pid)
	start := time.Now()
	time.Sleep(dur)
	t1 := procstat.Tree(cmd.Process.Pid)
	wall := time.Since(start)
	pct := 100 * (t1 - t0).Seconds() / wall.Seconds()
	what := map[string]string{"h264": "H.264 camera, -codec copy into mp4", "mjpeg": "MJPEG camera, libx264 (default preset) into mp4"}[kind]
	fmt.Printf("%s %s@%s: camrec + ffmpeg children %.1f%% of one core over %v\n", what, size, fps, pct, wall.Round(time.Millisecond))
	return pct, nil
}
