// Command motionscene renders one of the motion scenes of
// test/vm/internal/scene with the host's ffmpeg, for make bench-motion
// (the VM's emulated CPU takes minutes for the 1280x720 one). Next to the
// file it writes FILE.graph, the filter graph, which the benchmark compares
// with its own to refuse a stale file.
//
//	go run ./test/vm/motionscene -scene bench -o test/vm/cache/motion-bench.mjpeg
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/camrec/camrec/test/vm/internal/scene"
)

func main() {
	name := flag.String("scene", "bench", "bench or vm")
	out := flag.String("o", "", "output file (concatenated JPEGs)")
	ffmpeg := flag.String("ffmpeg", "ffmpeg", "ffmpeg binary")
	size := flag.String("size", "", "another size than the scene's, WxH")
	flag.Parse()
	s, ok := map[string]scene.Scene{"bench": scene.Bench, "vm": scene.VM}[*name]
	if !ok || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: motionscene -scene bench|vm [-size WxH] -o FILE")
		os.Exit(2)
	}
	if *size != "" {
		var err error
		if s, err = s.Sized(*size); err != nil {
			fmt.Fprintf(os.Stderr, "motionscene: %v\n", err)
			os.Exit(2)
		}
	}
	graph := *out + ".graph"
	if old, err := os.ReadFile(graph); err == nil && string(old) == s.Graph() {
		if fi, err := os.Stat(*out); err == nil && fi.Size() > 0 {
			fmt.Fprintf(os.Stderr, "motionscene: %s is up to date\n", *out)
			return
		}
	}
	_ = os.Remove(graph)
	t0 := time.Now()
	cmd := s.Command(*ffmpeg, *out)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "motionscene: ffmpeg: %v\n", err)
		os.Exit(1)
	}
	if err := os.WriteFile(graph, []byte(s.Graph()), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "motionscene: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "motionscene: rendered %s (%dx%d, %g s) in %.1f s\n", *out, s.W, s.H, s.Dur, time.Since(t0).Seconds())
}
