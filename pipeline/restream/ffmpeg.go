package restream

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/record"
)

// input is what the encoder's ffmpeg reads: MJPEG (PixFmt ""), or raw
// images of one layout and size.
type input struct {
	PixFmt        string
	Width, Height int
}

func inputOf(f *pipeline.Frame) input {
	if f.Raw != nil {
		return input{PixFmt: f.PixFmt, Width: f.Width, Height: f.Height}
	}
	return input{}
}

func (in input) String() string {
	if in.PixFmt == "" {
		return "mjpeg"
	}
	return fmt.Sprintf("%s %dx%d", in.PixFmt, in.Width, in.Height)
}

// partHeader appends the multipart header of a JPEG of n bytes (the
// encoder's MJPEG input, see encoderArgs); the line break that ends the
// previous part's data leads it.
func partHeader(dst []byte, n int) []byte {
	dst = append(dst, "\r\n--camrec\r\nContent-Type: image/jpeg\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, "\r\n\r\n"...)
}

// encoderArgs is the encoder's command line (without argv[0]): frames of in
// at fps on stdin, H.264 in FLV on stdout, one frame out for each frame in,
// as it comes (zerolatency: no lookahead, no B-frames, no frame threads),
// a keyframe every second (where recordings are cut and viewers join).
func encoderArgs(cfg EncoderConfig, in input, fps float64) []string {
	rate := strconv.FormatFloat(fps, 'f', -1, 64)
	// MJPEG comes as multipart parts with their length (mjpegPart): ffmpeg's
	// plain mjpeg input knows a frame has ended only when the next one
	// starts, a frame interval of latency (measured: 41 ms of the encoder's
	// 44 ms at 720p30). "-r" numbers the frames at fps from 0, as
	// "-framerate" does for the other inputs.
	inArgs := ffmpeg.KwArgs{"f": "mpjpeg", "r": rate}
	if in.PixFmt != "" {
		inArgs = ffmpeg.KwArgs{"f": "rawvideo", "pix_fmt": in.PixFmt,
			"s": fmt.Sprintf("%dx%d", in.Width, in.Height), "framerate": rate}
	}
	preset := cfg.Preset
	if preset == "" {
		preset = record.DefaultPreset
	}
	crf := record.DefaultCRF
	if cfg.CRF != nil {
		crf = *cfg.CRF
	}
	out := ffmpeg.KwArgs{"c:v": "libx264", "preset": preset, "tune": "zerolatency",
		"crf": strconv.Itoa(crf), "g": strconv.Itoa(max(1, int(fps+0.5))), "bf": "0",
		"pix_fmt": "yuv420p", "fps_mode": "passthrough", "flush_packets": "1", "format": "flv"}
	return ffmpeg.Input("pipe:0", inArgs).Output("pipe:1", out).
		GlobalArgs("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error").
		GetArgs()
}

// publisherArgs is the command line of the ffmpeg that copies H.264 from
// FLV on stdin to the server at u.
func publisherArgs(u *url.URL) []string {
	out := ffmpeg.KwArgs{"c:v": "copy"}
	switch u.Scheme {
	case "rtsp", "rtsps":
		out["format"] = "rtsp"
		out["rtsp_transport"] = "tcp"
	case "rtmp", "rtmps":
		out["format"] = "flv"
	case "srt":
		out["format"] = "mpegts"
	}
	return ffmpeg.Input("pipe:0", ffmpeg.KwArgs{"f": "flv", "probesize": "32", "analyzeduration": "0"}).
		Output(u.String(), out).
		GlobalArgs("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info").
		GetArgs()
}

// ErrBadURL: a restream URL camrec cannot publish to.
var ErrBadURL = errors.New("restream URL")

// ParseURL checks a restream URL: rtsp, rtsps, rtmp, rtmps or srt, with a
// host. Its errors never contain the URL's password.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL (want e.g. rtsp://mediamtx.lan:8554/garage)", ErrBadURL)
	}
	switch u.Scheme {
	case "rtsp", "rtsps", "rtmp", "rtmps", "srt":
	default:
		return nil, fmt.Errorf("%w %s: scheme %q: want rtsp, rtsps, rtmp, rtmps or srt", ErrBadURL, Redact(u), u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w %s: no host", ErrBadURL, Redact(u))
	}
	return u, nil
}

// Redact is u without its secrets: the password and an SRT passphrase.
func Redact(u *url.URL) string {
	c := *u
	if q := c.Query(); q.Has("passphrase") {
		q.Set("passphrase", "xxxxx")
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}

// secrets are the strings of u that must not reach a log: its password
// (as written and unescaped) and an SRT passphrase.
func secrets(u *url.URL) []string {
	var s []string
	if p, ok := u.User.Password(); ok && p != "" {
		s = append(s, p, url.PathEscape(p), url.QueryEscape(p))
	}
	if p := u.Query().Get("passphrase"); p != "" {
		s = append(s, p, url.QueryEscape(p))
	}
	return s
}

// stderrTail keeps the last 2 KB of an ffmpeg's stderr, and reports when the
// publisher's ffmpeg has connected (it prints "Output #0" once the server
// took its header).
type stderrTail struct {
	mu    sync.Mutex
	b     []byte
	ready chan struct{}
}

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if t.ready != nil && bytes.Contains(t.b, []byte("Output #0")) {
		select {
		case <-t.ready:
		default:
			close(t.ready)
		}
	}
	if len(t.b) > 2048 {
		t.b = append(t.b[:0], t.b[len(t.b)-2048:]...)
	}
	return len(p), nil
}

// String is the tail as one line: ffmpeg's error lines joined by "; ",
// without its informational lines and warnings, without the "[error]"
// level tags and the "@ 0x…" addresses of its log prefixes, without the
// empty error lines ffmpeg ends with, the secrets replaced.
func (t *stderrTail) String(hide ...string) string {
	t.mu.Lock()
	s := string(t.b)
	t.mu.Unlock()
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if msg, ok := errorLine(l); ok && (len(keep) == 0 || keep[len(keep)-1] != msg) {
			keep = append(keep, msg)
		}
	}
	s = strings.Join(keep, "; ")
	for _, h := range hide {
		if h != "" {
			s = strings.ReplaceAll(s, h, "xxxxx")
		}
	}
	if len(s) > 500 {
		s = "…" + s[len(s)-500:]
	}
	return s
}

// errorLine is what a line of ffmpeg's stderr says, when it says
// something worth an error message. With -loglevel level+…, a line is
// "[tcp @ 0x55d0c0] [error] Connection to … failed: Connection refused":
// the context keeps its name ("[tcp] Connection to …"), the level tag
// goes, and lines below error level go. ffmpeg also writes error lines
// with nothing in them, or ending in a dangling " --" (the reason it had
// to add was empty): those are left out or trimmed.
func errorLine(l string) (string, bool) {
	l = strings.TrimSpace(l)
	var ctx []string
	for strings.HasPrefix(l, "[") {
		end := strings.IndexByte(l, ']')
		if end < 0 {
			break
		}
		tag := l[1:end]
		switch tag {
		case "quiet", "panic", "fatal", "error":
		case "warning", "info", "verbose", "debug", "trace":
			return "", false
		default:
			name, _, _ := strings.Cut(tag, " @ ")
			if name = strings.TrimSpace(name); name != "" {
				ctx = append(ctx, "["+name+"]")
			}
		}
		l = strings.TrimSpace(l[end+1:])
	}
	l = strings.TrimSpace(strings.TrimSuffix(l, "--"))
	l = strings.TrimRight(l, " :;")
	if l == "" {
		return "", false
	}
	if len(ctx) > 0 {
		l = strings.Join(ctx, " ") + " " + l
	}
	return l, true
}
