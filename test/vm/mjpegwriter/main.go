// Command mjpegwriter stands in for an MJPEG webcam in the VM tests: it sets
// MJPEG at a size on a v4l2loopback output node and writes one JPEG per
// write() at a steady rate, so that readers of the node see an MJPEG camera.
//
// The frames are test/vm/internal/frames: a few distinct images, each
// written frame carrying the comment "camrec seq=<n> ts=<unix-nanos>".
//
// With -file it plays a scene instead: the JPEGs of a file of concatenated
// frames (what `ffmpeg -f mjpeg` writes), as they are, in order. Until the
// command "play" it loops the file's first -loop frames (a camera that
// already runs when its reader starts); after the file's last frame it
// writes each file frame's write time to -times, says "file done", and loops
// the last -loop frames until stopped (a camera does not stop).
//
// Control, one command per line on stdin: "pause", "resume", "fps <rate>",
// "play", "stop". SIGINT and SIGTERM stop it too. It reports on stderr: a
// "streaming" line once the first frame is written, a line per command, and
// "wrote <n> frames" when it ends.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/camrec/camrec/test/vm/internal/frames"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "mjpegwriter: %v\n", err)
		stop()
		os.Exit(1)
	}
}

type options struct {
	device   string
	w, h     int
	fps      float64
	frames   uint64
	distinct int
	file     string // a scene to play instead of the built-in frames
	times    string // where to write the scene frames' write times
	loop     int    // scene frames looped before "play" and after the end
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("mjpegwriter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.device, "device", "/dev/video10", "v4l2loopback node")
	size := fs.String("size", "640x480", "frame size WxH")
	fs.Float64Var(&o.fps, "fps", 15, "frames per second")
	fs.Uint64Var(&o.frames, "frames", 0, "frames to write, 0 = until stopped")
	fs.IntVar(&o.distinct, "distinct", 8, "number of distinct images (frame n shows image n mod distinct)")
	fs.StringVar(&o.file, "file", "", "play this file of concatenated JPEGs (a scene) instead of the built-in frames")
	fs.StringVar(&o.times, "times", "", "with -file: write each scene frame's write time (index and Unix nanoseconds, a line each) here at the scene's end")
	fs.IntVar(&o.loop, "loop", 30, "with -file: loop the first this many frames until \"play\", and the last this many after the end")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	ws, hs, ok := strings.Cut(*size, "x")
	var errW, errH error
	o.w, errW = strconv.Atoi(ws)
	o.h, errH = strconv.Atoi(hs)
	if !ok || errW != nil || errH != nil || o.w <= 0 || o.h <= 0 {
		return o, fmt.Errorf("-size %q: want WxH", *size)
	}
	if !(o.fps > 0 && o.fps <= 1000) {
		return o, fmt.Errorf("-fps %g: want 0 < fps <= 1000", o.fps)
	}
	if o.distinct < 1 {
		return o, fmt.Errorf("-distinct %d: want at least 1", o.distinct)
	}
	if o.loop < 1 {
		return o, fmt.Errorf("-loop %d: want at least 1", o.loop)
	}
	if o.times != "" && o.file == "" {
		return o, fmt.Errorf("-times needs -file")
	}
	return o, nil
}

// command is one control line from stdin.
type command struct {
	verb string
	fps  float64
}

func parseCommand(line string) (command, error) {
	f := strings.Fields(line)
	switch {
	case len(f) == 1 && (f[0] == "pause" || f[0] == "resume" || f[0] == "play" || f[0] == "stop"):
		return command{verb: f[0]}, nil
	case len(f) == 2 && f[0] == "fps":
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil || !(v > 0 && v <= 1000) {
			return command{}, fmt.Errorf("bad rate %q", f[1])
		}
		return command{verb: "fps", fps: v}, nil
	}
	return command{}, fmt.Errorf("unknown command %q (pause, resume, fps <rate>, play, stop)", line)
}

func run(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var src source
	if o.file != "" {
		sc, err := loadScene(o.file, o.loop)
		if err != nil {
			return err
		}
		src = sc
	} else {
		base, err := frames.Base(o.w, o.h, o.distinct)
		if err != nil {
			return err
		}
		src = builtin(base)
	}
	fd, err := unix.Open(o.device, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", o.device, err)
	}
	defer unix.Close(fd)
	sizeImage, err := setOutputFormat(fd, o.w, o.h)
	if err != nil {
		return fmt.Errorf("%s: %w", o.device, err)
	}
	if i, n := src.largest(); n+64 > sizeImage {
		return fmt.Errorf("frame %d is %d bytes, the driver's buffers hold %d", i, n, sizeImage)
	}
	if err := setOutputRate(fd, o.fps); err != nil {
		// Readers still get frames; they just see the driver's default rate.
		fmt.Fprintf(stderr, "mjpegwriter: %v\n", err)
	}

	// The reader goroutine ends at EOF or on a read error; when stdin stays
	// open it ends with the process (its only blocking call is the read).
	cmds := make(chan command)
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			c, err := parseCommand(sc.Text())
			if err != nil {
				fmt.Fprintf(stderr, "mjpegwriter: %v\n", err)
				continue
			}
			select {
			case cmds <- c:
			case <-ctx.Done():
				return
			}
		}
	}()

	var written uint64
	defer func() { fmt.Fprintf(stderr, "mjpegwriter: wrote %d frames\n", written) }()
	period := time.Duration(float64(time.Second) / o.fps)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	paused := false
	for o.frames == 0 || written < o.frames {
		select {
		case <-ctx.Done():
			return nil
		case c := <-cmds:
			fmt.Fprintf(stderr, "mjpegwriter: %s\n", strings.TrimSpace(c.verb+" "+fpsText(c)))
			switch c.verb {
			case "stop":
				return nil
			case "play":
				if sc, ok := src.(*scene); ok {
					sc.play()
				} else {
					fmt.Fprintf(stderr, "mjpegwriter: play: no -file\n")
				}
			case "pause":
				paused = true
				timer.Stop()
			case "resume":
				if paused {
					paused = false
					next = time.Now()
					timer.Reset(0)
				}
			case "fps":
				period = time.Duration(float64(time.Second) / c.fps)
				if err := setOutputRate(fd, c.fps); err != nil {
					fmt.Fprintf(stderr, "mjpegwriter: %v\n", err)
				}
			}
		case <-timer.C:
			frame, ended := src.next(written)
			n, err := unix.Write(fd, frame)
			if sc, ok := src.(*scene); ok {
				sc.wrote(time.Now()) // v4l2loopback stamps the buffer in write()
			}
			if err != nil {
				return fmt.Errorf("write frame %d: %w", written, err)
			}
			if n != len(frame) {
				return fmt.Errorf("write frame %d: short write %d of %d bytes", written, n, len(frame))
			}
			if written == 0 {
				fmt.Fprintf(stderr, "mjpegwriter: streaming %s MJPG %dx%d at %g fps\n", o.device, o.w, o.h, o.fps)
			}
			written++
			if ended {
				if o.times != "" {
					if err := src.(*scene).writeTimes(o.times); err != nil {
						return err
					}
				}
				fmt.Fprintf(stderr, "mjpegwriter: file done, %d frames\n", len(src.(*scene).frames))
			}
			// Keep a steady grid; after a long hiccup restart it rather than burst.
			next = next.Add(period)
			if d := time.Until(next); d > -period {
				timer.Reset(max(d, 0))
			} else {
				next = time.Now()
				timer.Reset(0)
			}
		}
	}
	return nil
}

func fpsText(c command) string {
	if c.verb != "fps" {
		return ""
	}
	return strconv.FormatFloat(c.fps, 'g', -1, 64)
}
