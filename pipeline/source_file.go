package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/camrec/camrec/internal/mjpeg"
)

// MaxFrameBytes is the largest JPEG frame the file and pipe sources accept.
// A 4K MJPEG frame at high quality is under 4 MiB.
const MaxFrameBytes = 16 << 20

// maxFileBytes bounds what a file source loads into memory.
const maxFileBytes = 1 << 30

// FileSource replays a file of concatenated JPEGs ("file:PATH", as
// `ffmpeg -f mjpeg` writes) at the configured rate, in a loop. The file is
// read once, by NewFileSource; its frames are shared, never copied, by every
// pass of the loop (a Frame's Data is immutable).
type FileSource struct {
	path   string
	opts   SourceOptions
	frames [][]byte // in file order; nil where the file held invalid data
	format Format
	seq    atomic.Uint64 // next frame number; keeps counting across Run calls
}

var _ Source = (*FileSource)(nil)

// NewFileSource loads the file at path. It fails, naming the path, when the
// file cannot be read or holds no valid frame.
func NewFileSource(path string, opts SourceOptions) (*FileSource, error) {
	opts = opts.withDefaults()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxFileBytes {
		return nil, fmt.Errorf("file source %s: %d bytes is more than the %d a replay loads", path, st.Size(), maxFileBytes)
	}
	s := &FileSource{path: path, opts: opts}
	r := mjpeg.NewReader(f, MaxFrameBytes)
	valid, invalid := 0, 0
	var size int64 // bytes read, for the message when none is a frame
	for {
		frame, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, mjpeg.ErrSkipped) {
			s.frames = append(s.frames, nil)
			invalid++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("file source %s: %w", path, err)
		}
		size += int64(len(frame))
		w, h, err := mjpeg.Size(frame)
		if err != nil {
			s.frames = append(s.frames, nil)
			invalid++
			continue
		}
		if valid == 0 {
			s.format = Format{Name: "mjpeg", Width: w, Height: h, FPS: opts.FPS}
		}
		s.frames = append(s.frames, frame)
		valid++
	}
	if valid == 0 {
		return nil, fmt.Errorf("file source %s: no valid JPEG frame in %d bytes", path, size+r.Skipped())
	}
	opts.Log.Info("file source loaded", "path", path, "frames", valid, "invalid", invalid,
		"width", s.format.Width, "height", s.format.Height)
	return s, nil
}

// Format returns what the file holds: the first frame's size at the
// configured rate.
func (s *FileSource) Format() Format { return s.format }

// Run replays the frames until ctx is done, then returns nil. Frame.Time is
// the time a frame is sent. Invalid data in the file is counted through
// sink.Invalid at its place on every pass. Run must not be called
// concurrently with itself.
func (s *FileSource) Run(ctx context.Context, sink Sink) error {
	sink.Negotiated(s.format)
	p := newPacer(s.opts.FPS)
	defer p.stop()
	for i := 0; ; i = (i + 1) % len(s.frames) {
		data := s.frames[i]
		if data == nil {
			sink.Invalid()
			continue
		}
		now, ok := p.wait(ctx)
		if !ok {
			return nil
		}
		sink.Frame(&Frame{Data: data, Seq: s.seq.Add(1) - 1, Time: now})
	}
}
