package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/test/vm/internal/frames"
)

// source gives the frames to write, one per call of next (seq counts the
// frames written so far); last reports a scene's last frame.
type source interface {
	next(seq uint64) (frame []byte, last bool)
	// largest returns the index and size of the largest frame.
	largest() (int, int)
}

// builtin is the default source: the deterministic test frames, each
// stamped with its sequence number and write time.
type builtin [][]byte

func (b builtin) next(seq uint64) ([]byte, bool) {
	return frames.Stamp(b, seq, time.Now().UnixNano()), false
}

func (b builtin) largest() (int, int) { return largestOf(b) }

// scene plays a file of JPEGs once, between a looped lead-in and a looped
// tail, and remembers when each of its frames was written.
type scene struct {
	frames  [][]byte
	loop    int // frames looped before play and after the end (at most len(frames))
	phase   int // 0 lead-in, 1 playing, 2 tail
	playReq bool
	i       int     // index within the phase
	pending bool    // the frame just handed out is a scene frame being played
	times   []int64 // write times of the scene's frames, Unix ns
}

func loadScene(path string, loop int) (*scene, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := mjpeg.NewReader(bufio.NewReaderSize(f, 1<<20), 16<<20)
	sc := &scene{}
	for {
		fr, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: frame %d: %w", path, len(sc.frames), err)
		}
		sc.frames = append(sc.frames, fr)
	}
	if len(sc.frames) == 0 {
		return nil, fmt.Errorf("%s: no JPEG frames", path)
	}
	sc.loop = min(loop, len(sc.frames))
	sc.times = make([]int64, 0, len(sc.frames))
	return sc, nil
}

// play starts the scene proper at the next frame (once).
func (s *scene) play() { s.playReq = true }

func (s *scene) next(uint64) ([]byte, bool) {
	s.pending = false
	if s.phase == 0 && s.playReq {
		s.phase, s.i = 1, 0
	}
	switch s.phase {
	case 0:
		f := s.frames[s.i%s.loop]
		s.i++
		return f, false
	case 1:
		f := s.frames[s.i]
		s.pending = true
		s.i++
		if s.i == len(s.frames) {
			s.phase, s.i = 2, 0
			return f, true
		}
		return f, false
	default:
		f := s.frames[len(s.frames)-s.loop+s.i%s.loop]
		s.i++
		return f, false
	}
}

// wrote records the write time of the frame next handed out last.
func (s *scene) wrote(t time.Time) {
	if s.pending {
		s.times = append(s.times, t.UnixNano())
	}
}

// writeTimes writes "<index> <unix-ns>" for every scene frame.
func (s *scene) writeTimes(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i, t := range s.times {
		fmt.Fprintf(w, "%d %d\n", i, t)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *scene) largest() (int, int) { return largestOf(s.frames) }

func largestOf(fs [][]byte) (int, int) {
	bi, bn := 0, 0
	for i, f := range fs {
		if len(f) > bn {
			bi, bn = i, len(f)
		}
	}
	return bi, bn
}
