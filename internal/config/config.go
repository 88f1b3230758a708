// Package config turns camrec's command line, YAML config file and
// environment into a validated Config. Flags override the file; every
// error names the setting the user has to fix.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/camrec/camrec/internal/auth"
	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/record"
)

// Config is the whole daemon's configuration.
type Config struct {
	Listen    string `yaml:"listen"`
	RecordDir string `yaml:"record_dir"`
	FFmpeg    string `yaml:"ffmpeg"`
	LogLevel  string `yaml:"log_level"`
	// Retention rules for every camera that sets none of its own.
	Keep    Duration `yaml:"keep"`
	MaxDisk Size     `yaml:"max_disk"`
	MinFree MinFree  `yaml:"min_free"`
	// DiskLow is the free space below which a disk_low event is raised
	// (nil: DefaultDiskLow; 0 turns it off).
	DiskLow *MinFree `yaml:"disk_low"`
	Cameras []Camera `yaml:"cameras"`

	// MQTT is the link to an MQTT broker and Home Assistant (mqtt.go).
	MQTT MQTT `yaml:"mqtt"`
	// Upload copies finished recordings to S3-compatible storage, for the
	// cameras without an upload section of their own (upload.go).
	Upload *Upload `yaml:"upload"`

	// Security holds users, tokens, TLS and exposure (security.go).
	Security Security `yaml:",inline"`
	// Notify holds the default hook timeout and the webhook (hooks.go).
	Notify Notify `yaml:",inline"`

	// Command modes, from flags only.
	ListDevices bool `yaml:"-"`
	Version     bool `yaml:"-"`
	Tool        Tool `yaml:"-"`
}

// IsV4L2 reports whether the camera's device is a V4L2 device path (not
// one of the test:, file: or pipe: sources).
func (c *Camera) IsV4L2() bool { return strings.HasPrefix(c.Device, "/") }

// Camera is one camera's settings.
type Camera struct {
	Name      string  `yaml:"name"`
	Device    string  `yaml:"device"`
	Size      string  `yaml:"size"` // WxH
	FPS       float64 `yaml:"fps"`
	Container string  `yaml:"container"`
	Codec     string  `yaml:"codec"`
	Preset    string  `yaml:"preset"`
	// CRF is the x264 quality; 0 (lossless) is a value, so the YAML key
	// is read through CRFSetting to tell it from "not given".
	CRF        int  `yaml:"-"`
	CRFSetting *int `yaml:"crf"`
	// StallTimeout is how long without a frame makes the camera "stalled".
	StallTimeout Duration `yaml:"stall_timeout"`

	// Controls are V4L2 control settings applied at every (re)connect.
	Controls Controls `yaml:"controls"`

	// Capture holds the V4L2 capture settings (capture.go).
	Capture Capture `yaml:",inline"`
	// Recording holds the recording behaviour settings (recording.go).
	Recording Recording `yaml:",inline"`
	// Hooks holds the programs run on the camera's events (hooks.go).
	Hooks Hooks `yaml:",inline"`
	// Restream publishes the camera to a media server (restream.go).
	Restream Restream `yaml:",inline"`
	// Motion is the camera's motion detection (motion.go).
	Motion motion.Config `yaml:"motion"`
	// Upload is the camera's own upload section; after Load, the one in
	// force (its own or the global one), nil when it does not upload.
	Upload *Upload `yaml:"upload"`

	Width, Height int `yaml:"-"` // parsed from Size
}

// Duration is a time.Duration that reads "3s", "500ms" from YAML.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 3s, 500ms)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Defaults for settings left unset.
const (
	DefaultListen = "127.0.0.1:8080"
	DefaultName   = "cam0"
	DefaultDevice = "test:"
	DefaultSize   = "1280x720"
	// The camera and recording defaults are pipeline's, defined there once.
	DefaultFPS       = pipeline.DefaultFPS
	DefaultContainer = record.DefaultContainer
	DefaultCodec     = record.DefaultCodec
	DefaultPreset    = record.DefaultPreset
	DefaultCRF       = record.DefaultCRF
	DefaultStall     = pipeline.DefaultStallAfter
	// DefaultDiskLowPercent of the record dir's disk free raises disk_low.
	DefaultDiskLowPercent = 5
)

// ErrHelp is returned for -h/-help after the usage was printed.
var ErrHelp = flag.ErrHelp

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	sizeRE = regexp.MustCompile(`^([0-9]{2,5})x([0-9]{2,5})$`)
)

// Load parses args (without the program name), reads the -config file if
// given, applies flags over it, fills defaults and validates. getenv is
// os.Getenv in production (STATE_DIRECTORY picks the record dir under
// systemd). Usage and flag errors go to usage.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("camrec", flag.ContinueOnError)
	fs.SetOutput(usage)
	var (
		configFile = fs.String("config", "", "YAML config `file` (several cameras); flags override it")
		device     = fs.String("device", DefaultDevice, "camera: /dev/videoN, a /dev/v4l/by-id link, test:, file:PATH, pipe: (stdin) or pipe:FIFO")
		name       = fs.String("name", DefaultName, "camera `name` (a-z, 0-9, _ and -)")
		size       = fs.String("size", DefaultSize, "frame size `WxH`")
		fps        = fs.Float64("fps", DefaultFPS, "frame rate")
		listen     = fs.String("listen", DefaultListen, "HTTP listen `address`")
		recordDir  = fs.String("record-dir", "", "recordings `dir` (default ./recordings, $STATE_DIRECTORY/recordings under systemd)")
		container  = fs.String("container", DefaultContainer, "recording container: mp4, mkv or avi")
		codec      = fs.String("codec", DefaultCodec, "video encoder for ffmpeg (libx264, h264_v4l2m2m, h264_vaapi, ...) or copy (store the camera's MJPEG in mkv/avi, or an H.264 camera's stream (-format h264) in mp4/mkv)")
		preset     = fs.String("preset", DefaultPreset, "x264 preset")
		crf        = fs.Int("crf", DefaultCRF, "x264 constant rate factor (0-51, lower is better)")
		ffmpegBin  = fs.String("ffmpeg", "ffmpeg", "ffmpeg `program` (name in PATH or path)")
		logLevel   = fs.String("log-level", "info", "log level: debug, info, warn, error")
		stall      = fs.Duration("stall-timeout", DefaultStall, "time without a frame before a camera is reported stalled")
	)
	applyCapture := captureFlags(fs)
	applyRecording := recordingFlags(fs)
	applyRestream := restreamFlags(fs)
	applyMotion := motionFlags(fs)
	var tool Tool
	applySecurity := securityFlags(fs, &tool)
	listDevices := fs.Bool("list-devices", false, "list video devices with their formats, sizes and rates, then exit")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with -)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := &Config{}
	if *configFile != "" {
		var err error
		if cfg, err = readFile(*configFile); err != nil {
			return nil, err
		}
	}
	cfg.ListDevices, cfg.Version, cfg.Tool = *listDevices, *version, tool
	if tool.HashPassword || tool.NewToken {
		// A tool mode needs no daemon config; check only its own flags.
		if !nameRE.MatchString(tool.User) {
			return nil, fmt.Errorf("user %q: want 1-32 characters a-z, 0-9, _ or -", tool.User)
		}
		if _, err := auth.ParseRole(tool.Role); err != nil {
			return nil, err
		}
		return cfg, nil
	}
	applySecurity(&cfg.Security, set)
	if err := cfg.Security.loadAuthFile(getenv); err != nil {
		return nil, err
	}
	cfg.Security.AllowedHosts = sortedHosts(cfg.Security.AllowedHosts)
	if err := cfg.MQTT.load(getenv); err != nil {
		return nil, err
	}

	// Globals: flag if given, else file, else default.
	pick := func(dst *string, flagName, flagVal, def string) {
		switch {
		case set[flagName]:
			*dst = flagVal
		case *dst == "":
			*dst = def
		}
	}
	pick(&cfg.Listen, "listen", *listen, DefaultListen)
	pick(&cfg.FFmpeg, "ffmpeg", *ffmpegBin, "ffmpeg")
	pick(&cfg.LogLevel, "log-level", *logLevel, "info")
	defDir := "recordings"
	if sd := getenv("STATE_DIRECTORY"); sd != "" {
		// systemd may pass several, colon-separated: use the first.
		defDir = filepath.Join(strings.Split(sd, ":")[0], "recordings")
	}
	pick(&cfg.RecordDir, "record-dir", *recordDir, defDir)
	if cfg.DiskLow == nil {
		cfg.DiskLow = &MinFree{Percent: DefaultDiskLowPercent}
	}
	if cfg.Notify.HookTimeout == 0 {
		cfg.Notify.HookTimeout = Duration(DefaultHookTimeout)
	}

	if len(cfg.Cameras) == 0 {
		cfg.Cameras = []Camera{{}}
	}
	for i := range cfg.Cameras {
		c := &cfg.Cameras[i]
		if i == 0 {
			pick(&c.Name, "name", *name, DefaultName)
			pick(&c.Device, "device", *device, DefaultDevice)
		}
		pick(&c.Size, "size", *size, DefaultSize)
		pick(&c.Container, "container", *container, DefaultContainer)
		pick(&c.Codec, "codec", *codec, DefaultCodec)
		pick(&c.Preset, "preset", *preset, DefaultPreset)
		if set["fps"] || c.FPS == 0 {
			c.FPS = *fps
		}
		switch {
		case set["crf"] || c.CRFSetting == nil:
			c.CRF = *crf
		default:
			c.CRF = *c.CRFSetting
		}
		if set["stall-timeout"] || c.StallTimeout == 0 {
			c.StallTimeout = Duration(*stall)
		}
		if c.Recording.Keep == 0 {
			c.Recording.Keep = cfg.Keep
		}
		if c.Recording.MaxDisk == 0 {
			c.Recording.MaxDisk = cfg.MaxDisk
		}
		if c.Recording.MinFree == (MinFree{}) {
			c.Recording.MinFree = cfg.MinFree
		}
		applyCapture(&c.Capture, set)
		applyRecording(&c.Recording, set)
		applyRestream(&c.Restream, i == 0, set)
		applyMotion(&c.Motion, set)
		c.Hooks.applyDefaults(cfg.Notify.HookTimeout)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.resolveUploads(getenv); err != nil {
		return nil, err
	}
	return cfg, nil
}

func readFile(path string) (*Config, error) {
	b, fi, err := readWithInfo(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	// A file holding a secret must not be readable by other users.
	for _, secret := range []struct {
		held     bool
		has, fix string
	}{
		{cfg.Security.Enabled(), "an auth: section", "; or move the users to an auth_file"},
		{cfg.MQTT.Password != "", "mqtt.password", "; or move it to mqtt.password_file"},
		{cfg.Notify.holdsSecret(), "a webhook_url with credentials (user:password or a query string)", ""},
		{restreamSecret(cfg.Cameras), "a restream URL with a password or passphrase", ""},
	} {
		if !secret.held {
			continue
		}
		if err := checkPrivate(path, fi); err != nil {
			return nil, fmt.Errorf("config file has %s: %w%s", secret.has, err, secret.fix)
		}
	}
	return &cfg, nil
}

// Validate checks every setting and names the first bad one.
func (c *Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: want host:port, e.g. 127.0.0.1:8080 or :8080", c.Listen)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("listen %q: port must be 0-65535", c.Listen)
	}
	if c.RecordDir == "" {
		return errors.New("record_dir: must not be empty")
	}
	if c.FFmpeg == "" {
		return errors.New("ffmpeg: must not be empty")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	if err := c.Security.validate(c.Listen, c.Cameras); err != nil {
		return err
	}
	if err := c.MQTT.validate(); err != nil {
		return err
	}
	if err := c.Notify.validate(); err != nil {
		return err
	}
	seen, devices, restreams := map[string]bool{}, map[string]string{}, map[string]string{}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		if err := cam.validate(); err != nil {
			who := cam.Name
			if who == "" {
				who = fmt.Sprintf("#%d", i+1)
			}
			return fmt.Errorf("camera %s: %w", who, err)
		}
		if seen[cam.Name] {
			return fmt.Errorf("camera %s: name used twice", cam.Name)
		}
		seen[cam.Name] = true
		if cam.Device != "test:" && !strings.HasPrefix(cam.Device, "file:") {
			if other, ok := devices[cam.Device]; ok {
				return fmt.Errorf("camera %s: device %s is already used by camera %s", cam.Name, cam.Device, other)
			}
			devices[cam.Device] = cam.Name
		}
		if u := cam.Restream.URL; u != "" {
			if other, ok := restreams[u]; ok {
				return fmt.Errorf("camera %s: its restream URL is already camera %s's (one path takes one publisher)", cam.Name, other)
			}
			restreams[u] = cam.Name
		}
	}
	return nil
}

func (c *Camera) validate() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("name %q: want 1-32 characters a-z, 0-9, _ or -, starting with a letter or digit", c.Name)
	}
	switch {
	case c.Device == "":
		return errors.New("device: must not be empty")
	case c.Device == "test:", c.Device == "pipe:":
	case strings.HasPrefix(c.Device, "file:") && len(c.Device) > len("file:"):
	case strings.HasPrefix(c.Device, "pipe:") && len(c.Device) > len("pipe:"):
	case strings.HasPrefix(c.Device, "/"):
	default:
		return fmt.Errorf("device %q: want a device path (/dev/video0), test:, file:PATH, pipe: or pipe:PATH", c.Device)
	}
	m := sizeRE.FindStringSubmatch(c.Size)
	if m == nil {
		return fmt.Errorf("size %q: want WxH, e.g. 1280x720", c.Size)
	}
	c.Width, _ = strconv.Atoi(m[1])
	c.Height, _ = strconv.Atoi(m[2])
	if c.Width < 16 || c.Height < 16 || c.Width > 7680 || c.Height > 4320 {
		return fmt.Errorf("size %q: width and height must be 16x16 to 7680x4320", c.Size)
	}
	if c.FPS <= 0 || c.FPS > 240 {
		return fmt.Errorf("fps %v: must be above 0 and at most 240", c.FPS)
	}
	if err := record.ValidateEncodingFor(c.CaptureFormat(), c.Container, c.Codec, c.Preset, c.CRF); err != nil {
		return err
	}
	if c.StallTimeout < Duration(100*time.Millisecond) {
		return fmt.Errorf("stall_timeout %v: must be at least 100ms", time.Duration(c.StallTimeout))
	}
	if err := c.Controls.validate(); err != nil {
		return err
	}
	if err := c.Capture.validate(); err != nil {
		return err
	}
	if err := c.Recording.validate(c); err != nil {
		return err
	}
	if err := c.Restream.validate(); err != nil {
		return err
	}
	if err := validateMotion(c.Motion); err != nil {
		return err
	}
	return c.Hooks.validate()
}
