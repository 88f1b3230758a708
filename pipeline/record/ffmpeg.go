package record

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/pipeline"
)

// LookFFmpeg resolves the ffmpeg binary. name is "ffmpeg" (searched in PATH)
// or an explicit path. The error wraps ErrFFmpegMissing and tells the user
// what to do.
func LookFFmpeg(name string) (string, error) {
	if name == "" {
		name = "ffmpeg"
	}
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	if name == "ffmpeg" {
		return "", missingError("ffmpeg not found in PATH: install it (apt-get install ffmpeg) or set -ffmpeg")
	}
	return "", missingError(fmt.Sprintf("ffmpeg %q cannot be run: %v", name, defs.RootCause(err)))
}

// missingError is a message for the user that wraps ErrFFmpegMissing without
// repeating its text.
type missingError string

func (e missingError) Error() string { return string(e) }
func (e missingError) Unwrap() error { return defs.ErrFFmpegMissing }

// LookFFprobe finds ffprobe next to ffmpegPath, else in PATH. It returns ""
// when there is none: the catalogue then works without probing.
func LookFFprobe(ffmpegPath string) string {
	if ffmpegPath != "" {
		p := filepath.Join(filepath.Dir(ffmpegPath), "ffprobe")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	p, err := exec.LookPath("ffprobe")
	if err != nil {
		return ""
	}
	return p
}

// stderrTailLines is how many of ffmpeg's last stderr lines are kept for
// error reports.
const stderrTailLines = 20

// inputSpec is what a recorder's ffmpeg reads on stdin: MJPEG frames (the
// zero value), or raw images of one pixel format and size (a YUYV camera).
// ffmpeg is told the size of raw frames on its command line, so a camera
// that comes back in another format or size needs a new ffmpeg (a new file).
type inputSpec struct {
	PixFmt        string // ffmpeg's -pix_fmt of raw frames; "" = MJPEG
	Width, Height int    // of raw frames
}

// specOf is the input a frame needs: its raw layout, or MJPEG.
func specOf(f *pipeline.Frame) inputSpec {
	if f.Raw != nil {
		return inputSpec{PixFmt: f.PixFmt, Width: f.Width, Height: f.Height}
	}
	return inputSpec{}
}

// Raw reports whether the input is raw images.
func (in inputSpec) Raw() bool { return in.PixFmt != "" && !in.H264() }

// H264 reports whether the input is an H.264 camera's access units (fed
// to ffmpeg in FLV, see package internal/flv).
func (in inputSpec) H264() bool { return in.PixFmt == pipeline.PixFmtH264 }

// String is for logs and errors: "mjpeg", "h264 1280x720" or
// "yuyv422 640x360".
func (in inputSpec) String() string {
	if in.PixFmt == "" {
		return "mjpeg"
	}
	return fmt.Sprintf("%s %dx%d", in.PixFmt, in.Width, in.Height)
}

// framePayload is what goes to ffmpeg's stdin for f: the raw image of a raw
// frame, else the JPEG.
func framePayload(f *pipeline.Frame) []byte {
	if f.Raw != nil {
		return f.Raw
	}
	return f.Data
}

// frameBytes is the memory a frame holds (JPEG and raw image).
func frameBytes(f *pipeline.Frame) int64 { return int64(len(f.Data) + len(f.Raw)) }

// stamped reports whether the ffmpeg recording in for cfg reads a Matroska
// stream that gives each frame its slot's time (mkvpipe.go) rather than a
// constant-rate one where every slot is a frame: when it encodes an MJPEG
// or YUYV camera into MP4 or MKV. ffmpeg then decodes a frame once however
// many slots it fills, and the writer may leave repeats out when ffmpeg
// cannot keep up (session.writeSlot). Copy mode and AVI (which has no
// timestamps) keep the constant-rate input.
func stamped(cfg RecorderConfig, in inputSpec) bool {
	if cfg.Codec == "copy" || cfg.Container == "avi" || in.H264() {
		return false
	}
	return in.PixFmt == "" || in.PixFmt == "yuyv422"
}

// ffmpegArgs returns the arguments (without argv[0]) of the ffmpeg that reads
// frames described by in (MJPEG, or raw images such as yuyv422 at WxH) at a
// constant rate fps from stdin and writes outPath. cfg must have been
// through withDefaults and Validate; copy mode takes MJPEG only (the
// recorder refuses raw input with it before calling).
//
// The input rate is exact because camrec resamples the camera's frames to fps
// itself (see resampler): slot k is at k/fps. In copy mode and AVI every
// frame on stdin is a slot, lasting 1/fps; an encoder (see stamped) reads
// Matroska whose frames carry their slots' times, and keeps them
// (-fps_mode passthrough): a file whose every slot was written has a
// constant rate, one whose repeats were left out holds fewer frames at the
// same times. Its keyframes then come by time (every second in MP4, as the
// GOP), not by frame count.
func ffmpegArgs(cfg RecorderConfig, fps float64, in inputSpec, outPath string) []string {
	rate := strconv.FormatFloat(fps, 'f', -1, 64)
	inArgs := ffmpeg.KwArgs{"f": "mjpeg", "framerate": rate}
	if in.Raw() {
		inArgs = ffmpeg.KwArgs{"f": "rawvideo", "pix_fmt": in.PixFmt,
			"s": fmt.Sprintf("%dx%d", in.Width, in.Height), "framerate": rate}
	}
	stamp := stamped(cfg, in)
	if stamp {
		// The header says what the frames are: no probing beyond the first
		// ones (by default ffmpeg reads ~1.4 s of frames before it opens
		// its output).
		inArgs = ffmpeg.KwArgs{"f": "matroska", "probesize": "32", "analyzeduration": "0"}
	}
	if in.H264() {
		// Timestamped FLV (package internal/flv); no probing beyond the first frames.
		inArgs = ffmpeg.KwArgs{"f": "flv", "probesize": "32", "analyzeduration": "0"}
	}
	out := ffmpeg.KwArgs{"c:v": cfg.Codec}
	if in.H264() && cfg.Codec != "copy" {
		// Re-encoding: a constant rate from the capture times.
		out["fps_mode"] = "cfr"
		out["r"] = rate
	}
	switch cfg.Container {
	case "mp4":
		out["format"] = "mp4"
		// Fragmented MP4: a crash or SIGKILL loses at most the last GOP
		// (packages.md). Chromium reports only the first fragment's length
		// as the duration of such a file (measured: 2 s of 6), so the
		// recorder remuxes it to a plain MP4 once it is finished (remuxMP4).
		// Not +global_sidx: ffmpeg then shifts the whole file in place in
		// its trailer (~3 s per 600 MB measured), and a kill during that
		// shift would destroy the recording.
		out["movflags"] = "+frag_keyframe+empty_moov+default_base_moof"
		out["flush_packets"] = "1"
	case "mkv":
		out["format"] = "matroska"
	case "avi":
		out["format"] = "avi"
		// AVI has no timestamps of its own: give the muxer the rate, or it
		// writes a wrong r_frame_rate (measured 60/1 for a 30 fps input).
		out["r"] = rate
	}
	if cfg.Codec != "copy" {
		// A keyframe every 2 s; every second in MP4, where a fragment
		// ends at each keyframe and is what a crash of ffmpeg loses.
		gopS := 2.0
		if cfg.Container == "mp4" {
			gopS = 1
		}
		out["g"] = strconv.Itoa(max(1, int(gopS*fps+0.5)))
		if stamp {
			out["fps_mode"] = "passthrough"
			out["enc_time_base"] = "1:1000" // the input's milliseconds
			out["force_key_frames"] = "expr:gte(t,n_forced*" + strconv.FormatFloat(gopS, 'f', -1, 64) + ")"
		}
		if isH26x(cfg.Codec) {
			// Webcam MJPEG decodes to yuvj422p, YUYV is yuyv422; browsers
			// only play 4:2:0.
			out["pix_fmt"] = "yuv420p"
		}
		if cfg.Codec == "libx264" {
			out["preset"] = cfg.Preset
			out["crf"] = strconv.Itoa(*cfg.CRF)
		}
	}
	return ffmpeg.Input("pipe:0", inArgs).
		Output(outPath, out).
		GlobalArgs("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", "-y").
		GetArgs()
}

func isH26x(codec string) bool {
	return strings.Contains(codec, "264") || strings.Contains(codec, "265") || strings.Contains(codec, "hevc")
}

// videoCodecName is the codec a recording made with encoder holds, as ffprobe
// names it.
func videoCodecName(encoder string, in inputSpec) string {
	switch {
	case encoder == "copy" && in.H264():
		return "h264"
	case encoder == "copy":
		return "mjpeg"
	case strings.Contains(encoder, "264"):
		return "h264"
	case strings.Contains(encoder, "265") || strings.Contains(encoder, "hevc"):
		return "hevc"
	}
	return encoder
}

// tailWriter keeps the last lines ffmpeg writes to stderr and reports when
// ffmpeg has opened its output (the "Output #0" line, printed once the
// encoder is initialised and the header written). ffmpeg runs with
// "-loglevel level+info", so every line carries its level, and the lines of
// level warning or worse can be told apart from the informational ones.
type tailWriter struct {
	mu      sync.Mutex
	partial []byte
	lines   []tailLine
	ready   chan struct{}
	once    sync.Once
}

type tailLine struct {
	text    string
	problem bool // warning, error, fatal or panic
}

func newTailWriter() *tailWriter { return &tailWriter{ready: make(chan struct{})} }

// Write implements io.Writer; os/exec calls it from its stderr copier.
func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexAny(t.partial, "\r\n")
		if i < 0 {
			break
		}
		t.addLocked(string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > 4096 { // a runaway line: keep it bounded
		t.addLocked(string(t.partial))
		t.partial = t.partial[:0]
	}
	return len(p), nil
}

func (t *tailWriter) addLocked(line string) {
	line = strings.TrimSpace(line)
	if line == "" || strings.Contains(line, "deprecated pixel format used") ||
		strings.Contains(line, "not enough frames to estimate rate") {
		// swscaler repeats the first for every yuvj frame; the matroska
		// demuxer says the second of a stamped input, read without
		// probing (its rate is the frames' times): noise.
		return
	}
	if strings.Contains(line, "Output #0, ") {
		t.once.Do(func() { close(t.ready) })
	}
	t.lines = append(t.lines, tailLine{text: line, problem: isProblem(line)})
	if len(t.lines) > stderrTailLines {
		t.lines = t.lines[len(t.lines)-stderrTailLines:]
	}
}

// isProblem reports whether an ffmpeg log line is of level warning or worse.
func isProblem(line string) bool {
	for _, lvl := range []string{"[warning] ", "[error] ", "[fatal] ", "[panic] "} {
		if strings.Contains(line, lvl) {
			return true
		}
	}
	return false
}

// Ready is closed once ffmpeg has opened its output.
func (t *tailWriter) Ready() <-chan struct{} { return t.ready }

// Tail returns the last n kept lines (all if n <= 0), joined by "; ".
func (t *tailWriter) Tail(n int) string { return t.join(n, false) }

// Problems is Tail restricted to lines of level warning or worse.
func (t *tailWriter) Problems(n int) string { return t.join(n, true) }

func (t *tailWriter) join(n int, problemsOnly bool) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, l := range t.lines {
		if l.problem || !problemsOnly {
			out = append(out, l.text)
		}
	}
	if p := strings.TrimSpace(string(t.partial)); p != "" && (!problemsOnly || isProblem(p)) {
		out = append(out, p)
	}
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "; ")
}
