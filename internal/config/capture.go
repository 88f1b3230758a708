package config

import (
	"flag"
	"fmt"

	"github.com/camrec/camrec/v4l2"
)

// Capture defaults.
const (
	// DefaultFormat prefers MJPEG and falls back to YUYV.
	DefaultFormat = "auto"
	// DefaultPreviewFPS caps the JPEG encoding of a YUYV camera's preview:
	// 10 fps of 640x360 cost about a tenth of a core (see the README).
	DefaultPreviewFPS = 10
	// DefaultJPEGQuality of the JPEGs camrec encodes (YUYV preview, snapshot).
	DefaultJPEGQuality = 80
)

// Capture is the V4L2 capture part of a camera's settings. Its fields are
// inlined into the camera's YAML mapping.
type Capture struct {
	// Format asks a V4L2 camera for "auto" (MJPEG when offered, else
	// YUYV), "mjpeg", "yuyv" or "h264"; for a pipe: source, "h264" or
	// "mjpeg" says what the stream carries (auto: told by its first bytes).
	Format string `yaml:"format"`
	// PreviewFPS caps how often frames of a YUYV or H.264 camera are
	// made into JPEGs for live preview (only while someone watches).
	PreviewFPS float64 `yaml:"preview_fps"`
	// JPEGQuality (1-100) of those JPEGs.
	JPEGQuality int `yaml:"jpeg_quality"`
}

// captureFlags registers the capture flags on fs and returns the function
// that applies the flags the user set (set) over a camera's file settings
// and defaults.
func captureFlags(fs *flag.FlagSet) func(c *Capture, set map[string]bool) {
	format := fs.String("format", DefaultFormat, "pixel format asked of a V4L2 camera: auto (MJPEG if offered, else YUYV; with -codec copy into mp4/mkv, H.264 if offered, else MJPEG), mjpeg, yuyv or h264 (H.264, recorded with -codec copy into mp4/mkv); for pipe: what the stream carries (auto: sniffed)")
	previewFPS := fs.Float64("preview-fps", DefaultPreviewFPS, "max rate at which a YUYV camera's frames are JPEG-encoded for live preview (only while someone watches)")
	quality := fs.Int("jpeg-quality", DefaultJPEGQuality, "quality (1-100) of the JPEGs camrec encodes for a YUYV camera's preview and snapshots")
	return func(c *Capture, set map[string]bool) {
		if set["format"] || c.Format == "" {
			c.Format = *format
		}
		if set["preview-fps"] || c.PreviewFPS == 0 {
			c.PreviewFPS = *previewFPS
		}
		if set["jpeg-quality"] || c.JPEGQuality == 0 {
			c.JPEGQuality = *quality
		}
	}
}

func (c *Capture) validate() error {
	switch c.Format {
	case "auto", "mjpeg", "yuyv", "h264":
	default:
		return fmt.Errorf("format %q: want auto, mjpeg, yuyv or h264", c.Format)
	}
	if !(c.PreviewFPS > 0 && c.PreviewFPS <= 60) { // also rejects NaN
		return fmt.Errorf("preview_fps %v: want a number above 0 and at most 60", c.PreviewFPS)
	}
	if c.JPEGQuality < 1 || c.JPEGQuality > 100 {
		return fmt.Errorf("jpeg_quality %d: want 1-100", c.JPEGQuality)
	}
	return nil
}

// CaptureFormat is the format asked of the camera's source: its format
// setting, except for the rule of "auto" on a V4L2 camera whose recording
// copies the camera's stream (codec copy) into mp4 or mkv: H.264 first
// when the camera offers it (nothing to decode or encode; the preview is
// then decoded while watched), else MJPEG. Otherwise auto prefers MJPEG
// (every frame is already a preview JPEG), then YUYV. pipe: sources tell
// H.264 from MJPEG by their first bytes instead.
func (c *Camera) CaptureFormat() string {
	if c.Capture.Format == DefaultFormat && c.IsV4L2() && c.Codec == "copy" && (c.Container == "mp4" || c.Container == "mkv") {
		return v4l2.FormatAutoH264
	}
	return c.Capture.Format
}
