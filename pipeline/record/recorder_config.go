// This file holds a recorder's settings: their defaults and validation.

package record

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
	"github.com/camrec/camrec/v4l2"
)

// RecorderConfig is what a Recorder needs to know about one camera's
// recordings.
// EventSink takes what happens; it must not block (an *events.Bus).
type EventSink interface {
	Publish(events.Event)
}

type RecorderConfig struct {
	// Camera is the camera name: files go to Dir/<Camera>/<Camera>-YYYYMMDD-HHMMSS.<ext>
	// (local time), never overwriting (-2, -3 ... are appended).
	Camera string
	// Dir is the record dir root.
	Dir string
	// Container is "mp4" (default), "mkv" or "avi".
	Container string
	// Format is the camera's format setting (auto, mjpeg, yuyv, h264): it
	// decides which containers codec copy may use.
	Format string
	// Codec is "libx264" (default), "copy" (stores the camera's MJPEG as
	// is in mkv or avi, or an H.264 camera's stream in mp4 or mkv; see
	// ValidateEncodingFor) or another ffmpeg encoder such as h264_v4l2m2m.
	// Hardware encoders that need a device or hwupload filter (h264_vaapi)
	// are passed through as is and fail at start with ffmpeg's message.
	Codec string
	// Preset is the x264 preset. Default ultrafast: measured on 2 cores,
	// 1080p30 costs ~77% of one core with ultrafast and ~160% with superfast.
	Preset string
	// CRF is the x264 quality, 0 (lossless) to 51; nil means the
	// default 23.
	CRF *int
	// FFmpeg is the path of ffmpeg (from LookFFmpeg), or "" when missing.
	FFmpeg string
	// FFmpegErr is non-nil when ffmpeg is missing: starting a recording
	// fails with it (it wraps ErrFFmpegMissing).
	FFmpegErr error

	// PreRecord keeps the last PreRecord of frames in memory; a recording
	// starts with them. 0 = off.
	PreRecord time.Duration
	// PreRecordMaxBytes bounds that memory (default 64 MiB).
	PreRecordMaxBytes int64
	// MaxDuration stops a recording by itself after that long. 0 = none.
	MaxDuration time.Duration
	// Segment splits a recording into files of that length (at least 1 s),
	// with no gap or overlap. 0 = one file (except with Continuous).
	Segment time.Duration
	// OnMotion: motion detection starts recordings (SetMotion; the
	// recording mode "events"); they begin PreRecord before the motion.
	OnMotion bool
	// Continuous records all the time, in segments (default 10 min), from
	// Run's start; SetActive(false) pauses it, SetActive(true) resumes.
	Continuous bool
	// FsyncInterval is how often the file being written is flushed to the
	// disk (default 2 s; negative = never, only at close).
	FsyncInterval time.Duration
	// Retention deletes old recordings of this camera.
	Retention store.Retention
	// StallTimeout: when the camera delivers no frame for that long (or
	// reports itself disconnected or in error), the file being written is
	// finished; the recording goes on in a new file when frames return.
	// Default DefaultStallAfter, the camera's own stall timeout.
	StallTimeout time.Duration
	// Events, if set, is told of recordings starting, stopping, failing,
	// of files closed between segments and of deletions by retention.
	Events EventSink
}

// Defaults of the recording settings: the one place they are defined
// (package config shows and applies these same values).
const (
	DefaultContainer = "mp4"
	DefaultCodec     = "libx264"
	// DefaultPreset keeps 1080p30 in real time on a 2-core machine
	// (superfast took 162% of a core there: see the README).
	DefaultPreset            = "ultrafast"
	DefaultCRF               = 23
	DefaultPreRecordMaxBytes = 64 << 20
	// DefaultContinuousSegment is the segment length of continuous
	// recording when no segment length is given.
	DefaultContinuousSegment = 10 * time.Minute
	DefaultFsyncInterval     = 2 * time.Second
	minSegment               = time.Second
)

var (
	x264Presets    = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}
	encoderPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_]{0,63}$`)
)

func (c RecorderConfig) withDefaults() RecorderConfig {
	if c.Container == "" {
		c.Container = DefaultContainer
	}
	if c.Codec == "" {
		c.Codec = DefaultCodec
	}
	if c.Preset == "" {
		c.Preset = DefaultPreset
	}
	if c.CRF == nil {
		crf := DefaultCRF
		c.CRF = &crf
	}
	if c.PreRecordMaxBytes == 0 {
		c.PreRecordMaxBytes = DefaultPreRecordMaxBytes
	}
	if c.Continuous && c.Segment == 0 {
		c.Segment = DefaultContinuousSegment
	}
	if c.FsyncInterval == 0 {
		c.FsyncInterval = DefaultFsyncInterval
	}
	if c.Retention.Interval == 0 {
		c.Retention.Interval = store.DefaultRetentionInterval
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = pipeline.DefaultStallAfter
	}
	return c
}

// ValidateEncoding checks how a recording is to be encoded: the container
// (mp4, mkv, avi), the codec (an ffmpeg encoder name, or copy into mkv or
// avi), the x264 preset (for libx264) and the CRF. Its errors name the
// setting; the config loader and Validate share it. ValidateEncodingFor
// also allows what an H.264 camera can do.
func ValidateEncoding(container, codec, preset string, crf int) error {
	return ValidateEncodingFor("", container, codec, preset, crf)
}

// ValidateEncodingFor is ValidateEncoding for a camera of the given format
// (auto, mjpeg, yuyv, h264, or auto-h264: a V4L2 camera set to auto whose
// copied recording asks for H.264 first). The valid combinations with codec
// copy: MJPEG (format auto or mjpeg) into mkv or avi; H.264 (format h264 or
// auto-h264) into mp4 or mkv; YUYV never (the recorder refuses it when it
// sees raw frames, since format auto may fall back to YUYV).
func ValidateEncodingFor(format, container, codec, preset string, crf int) error {
	var errs []error
	switch container {
	case "mp4", "mkv", "avi":
	default:
		errs = append(errs, fmt.Errorf("container %q: want mp4, mkv or avi", container))
	}
	switch {
	case !encoderPattern.MatchString(codec):
		errs = append(errs, fmt.Errorf("codec %q: want copy or an ffmpeg encoder name such as libx264 or h264_v4l2m2m", codec))
	case codec == "copy" && container == "mp4" && format != pipeline.FormatH264 && format != v4l2.FormatAutoH264:
		errs = append(errs, errors.New(`codec "copy": container mp4 cannot store MJPEG as is; use container mkv or avi, or an encoder such as libx264 (copy into mp4 is for H.264 cameras: format h264)`))
	case codec == "copy" && container == "avi" && format == pipeline.FormatH264:
		errs = append(errs, errors.New(`codec "copy": an H.264 camera (format h264) is copied into container mp4 or mkv, not avi`))
	}
	if codec == "libx264" && !slices.Contains(x264Presets, preset) {
		errs = append(errs, fmt.Errorf("preset %q: want one of %s", preset, strings.Join(x264Presets, ", ")))
	}
	if crf < 0 || crf > 51 {
		errs = append(errs, fmt.Errorf("crf %d: want 0-51", crf))
	}
	return errors.Join(errs...)
}

// Validate checks the settings (after defaults). Its errors name the setting.
func (c RecorderConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if !store.ValidCameraName(c.Camera) {
		errs = append(errs, fmt.Errorf("camera %q: want 1-64 letters, digits, '-' or '_', starting with a letter or digit", c.Camera))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("record dir: must be set"))
	}
	if err := ValidateEncodingFor(c.Format, c.Container, c.Codec, c.Preset, *c.CRF); err != nil {
		errs = append(errs, err)
	}
	if c.PreRecord < 0 {
		errs = append(errs, fmt.Errorf("pre-record %s: must not be negative", c.PreRecord))
	}
	if c.PreRecordMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("pre-record max bytes %d: must not be negative", c.PreRecordMaxBytes))
	}
	if c.MaxDuration < 0 {
		errs = append(errs, fmt.Errorf("max duration %s: must not be negative", c.MaxDuration))
	}
	if c.Segment != 0 && c.Segment < minSegment {
		errs = append(errs, fmt.Errorf("segment %s: want at least %s", c.Segment, minSegment))
	}
	if c.Continuous && c.MaxDuration > 0 {
		errs = append(errs, errors.New("max duration: cannot be combined with continuous recording (use segment)"))
	}
	if c.StallTimeout < 0 {
		errs = append(errs, fmt.Errorf("stall timeout %s: must not be negative", c.StallTimeout))
	}
	if err := c.Retention.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// copyRawError is why copy mode cannot record a raw camera.
func copyRawError(camera string, in inputSpec) error {
	return fmt.Errorf("codec copy stores the camera's MJPEG or H.264; camera %s delivers raw %s: use an encoder such as libx264", camera, in.PixFmt)
}

// copyError says why cfg cannot record input in (nil if it can): codec
// copy stores MJPEG in mkv or avi, H.264 in mp4 or mkv, and nothing raw.
func copyError(cfg RecorderConfig, in inputSpec) error {
	if cfg.Codec != "copy" {
		return nil
	}
	switch {
	case in.Raw():
		return copyRawError(cfg.Camera, in)
	case in.H264() && cfg.Container == "avi":
		return fmt.Errorf("codec copy: camera %s delivers H.264, which is copied into mp4 or mkv, not avi", cfg.Camera)
	case !in.H264() && cfg.Container == "mp4":
		return fmt.Errorf("codec copy: camera %s delivers MJPEG, which mp4 cannot store as is; use container mkv or avi, or an encoder such as libx264 (copy into mp4 is for H.264 cameras)", cfg.Camera)
	}
	return nil
}
