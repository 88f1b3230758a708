package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/camrec/camrec/pipeline/record"
	"gopkg.in/yaml.v3"
)

// Recording is the recording-behaviour part of a camera's settings
// (pre-record, segments, retention, ...). Its fields are inlined into the
// camera's YAML mapping.
type Recording struct {
	// PreRecord keeps that much of the past in memory; a recording starts
	// with it.
	PreRecord Duration `yaml:"pre_record"`
	// PreRecordMaxBytes bounds the pre-record's memory.
	PreRecordMaxBytes Size `yaml:"pre_record_max_bytes"`
	// MaxDuration stops a recording by itself.
	MaxDuration Duration `yaml:"max_duration"`
	// Segment splits recordings into files of that length.
	Segment Duration `yaml:"segment"`
	// Continuous records all the time, in segments.
	Continuous bool `yaml:"continuous"`
	// RecordMode is when the camera records by itself: "manual" (only
	// when asked), "continuous" (all the time; continuous: true says the
	// same) or "events" (when motion detection finds motion: pre_record
	// before it, motion.post_roll after it). Requests to record work in
	// every mode.
	RecordMode string `yaml:"record_mode"`
	// Keep, MaxDisk and MinFree are the retention rules.
	Keep    Duration `yaml:"keep"`
	MaxDisk Size     `yaml:"max_disk"`
	MinFree MinFree  `yaml:"min_free"`
	// FsyncInterval is how often the file being written is flushed to the
	// disk.
	FsyncInterval Duration `yaml:"fsync_interval"`
}

// Defaults of the recording settings: pipeline's, defined there once.
const (
	DefaultPreRecordMaxBytes = record.DefaultPreRecordMaxBytes
	DefaultFsyncInterval     = record.DefaultFsyncInterval
	DefaultContinuousSegment = record.DefaultContinuousSegment
)

// Size is a byte count that reads "64MiB", "500M", "2G", "1.5GB" or
// "1048576" (K, M, G, T are powers of 1024, with or without "i"/"B").
type Size int64

// ParseSize parses a Size.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r >= 'A' && r <= 'z' })
	unit := strings.ToUpper(strings.TrimSpace(t[len(num):]))
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "I")
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if mult == 0 || err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size (e.g. 64MiB, 500M, 2G)", s)
	}
	return Size(v * mult), nil
}

// String implements flag.Value: the size in the largest binary unit that
// divides it (64MiB), as the README and -h write it.
func (z *Size) String() string {
	if z == nil || *z == 0 {
		return "0"
	}
	v := int64(*z)
	for _, u := range []struct {
		name  string
		bytes int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v%u.bytes == 0 {
			return strconv.FormatInt(v/u.bytes, 10) + u.name
		}
	}
	return strconv.FormatInt(v, 10)
}

// Set implements flag.Value.
func (z *Size) Set(s string) error {
	v, err := ParseSize(s)
	if err != nil {
		return err
	}
	*z = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (z *Size) UnmarshalYAML(n *yaml.Node) error {
	if err := z.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// MinFree is free space to keep on the record dir's filesystem: a size or a
// percentage of the filesystem ("10%").
type MinFree struct {
	Bytes   int64
	Percent float64
}

// Set implements flag.Value.
func (m *MinFree) Set(s string) error {
	if p, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v >= 100 {
			return fmt.Errorf("%q is not a percentage from 0 to below 100", s)
		}
		*m = MinFree{Percent: v}
		return nil
	}
	v, err := ParseSize(s)
	if err != nil {
		return fmt.Errorf("%q is not a size or a percentage (e.g. 2G, 10%%)", s)
	}
	*m = MinFree{Bytes: int64(v)}
	return nil
}

// String implements flag.Value.
func (m *MinFree) String() string {
	switch {
	case m == nil || (m.Bytes == 0 && m.Percent == 0):
		return "0"
	case m.Percent > 0:
		return strconv.FormatFloat(m.Percent, 'f', -1, 64) + "%"
	}
	return strconv.FormatInt(m.Bytes, 10)
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (m *MinFree) UnmarshalYAML(n *yaml.Node) error {
	if err := m.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// recordingFlags registers the recording flags on fs and returns the
// function that applies the flags the user set (set) over a camera's file
// settings and defaults.
func recordingFlags(fs *flag.FlagSet) func(r *Recording, set map[string]bool) {
	preRecord := fs.Duration("pre-record", 0, "keep this much of the past in memory and start each recording with it (e.g. 5s)")
	preMax := Size(DefaultPreRecordMaxBytes)
	fs.Var(&preMax, "pre-record-max-bytes", "memory bound of the pre-record (`size`, e.g. 64MiB)")
	maxDur := fs.Duration("max-duration", 0, "stop a recording by itself after this long (0 = never)")
	segment := fs.Duration("segment", 0, "split recordings into files of this length, with no gap (0 = one file; -continuous: 10m)")
	continuous := fs.Bool("continuous", false, "record all the time, in segments")
	mode := fs.String("record-mode", "", "when to record by itself: manual, continuous (= -continuous) or events (on motion; needs -motion)")
	keep := fs.Duration("keep", 0, "delete recordings older than this (e.g. 720h; 0 = keep)")
	var maxDisk Size
	fs.Var(&maxDisk, "max-disk", "delete the oldest recordings of a camera beyond this `size` (e.g. 50G)")
	var minFree MinFree
	fs.Var(&minFree, "min-free", "delete the oldest recordings to keep this much free on the record dir's disk (`size or percent`, e.g. 5G or 10%)")
	fsync := fs.Duration("fsync-interval", DefaultFsyncInterval, "flush the file being recorded to disk this often (a power cut loses about this much)")
	return func(r *Recording, set map[string]bool) {
		durs := []struct {
			flag string
			dst  *Duration
			val  time.Duration
		}{
			{"pre-record", &r.PreRecord, *preRecord},
			{"max-duration", &r.MaxDuration, *maxDur},
			{"segment", &r.Segment, *segment},
			{"keep", &r.Keep, *keep},
			{"fsync-interval", &r.FsyncInterval, *fsync},
		}
		for _, d := range durs {
			if set[d.flag] || *d.dst == 0 {
				*d.dst = Duration(d.val)
			}
		}
		if set["pre-record-max-bytes"] || r.PreRecordMaxBytes == 0 {
			r.PreRecordMaxBytes = preMax
		}
		if set["max-disk"] {
			r.MaxDisk = maxDisk
		}
		if set["min-free"] {
			r.MinFree = minFree
		}
		if set["continuous"] {
			r.Continuous = *continuous
		}
		if set["record-mode"] {
			r.RecordMode = *mode
		}
		r.resolveMode()
		if r.Continuous && r.Segment == 0 {
			r.Segment = Duration(DefaultContinuousSegment)
		}
	}
}

// Recording modes (Recording.RecordMode).
const (
	ModeManual     = "manual"
	ModeContinuous = "continuous"
	ModeEvents     = "events"
)

// resolveMode fills RecordMode from Continuous when unset, and Continuous
// from RecordMode "continuous"; a contradiction is left for validate.
func (r *Recording) resolveMode() {
	switch {
	case r.RecordMode == "" && r.Continuous:
		r.RecordMode = ModeContinuous
	case r.RecordMode == "":
		r.RecordMode = ModeManual
	case r.RecordMode == ModeContinuous:
		r.Continuous = true
	}
}

// validate checks r; cam is the whole camera for cross-checks.
func (r *Recording) validate(cam *Camera) error {
	nonNeg := []struct {
		name string
		d    Duration
	}{{"pre_record", r.PreRecord}, {"max_duration", r.MaxDuration}, {"segment", r.Segment}, {"keep", r.Keep}}
	for _, n := range nonNeg {
		if n.d < 0 {
			return fmt.Errorf("%s %v: must not be negative", n.name, time.Duration(n.d))
		}
	}
	switch {
	case r.PreRecord > Duration(time.Minute):
		return fmt.Errorf("pre_record %v: at most 1m (it is kept in memory)", time.Duration(r.PreRecord))
	case r.PreRecordMaxBytes < 1<<20:
		return fmt.Errorf("pre_record_max_bytes %d: want at least 1MiB", r.PreRecordMaxBytes)
	case r.Segment != 0 && r.Segment < Duration(time.Second):
		return fmt.Errorf("segment %v: want at least 1s", time.Duration(r.Segment))
	case r.Continuous && r.MaxDuration > 0:
		return errors.New("max_duration: cannot be combined with continuous (use segment)")
	case r.Keep != 0 && r.Keep < Duration(time.Minute):
		return fmt.Errorf("keep %v: want at least 1m", time.Duration(r.Keep))
	case r.MaxDisk < 0:
		return fmt.Errorf("max_disk %d: must not be negative", r.MaxDisk)
	case r.FsyncInterval < 0:
		return fmt.Errorf("fsync_interval %v: must not be negative", time.Duration(r.FsyncInterval))
	}
	switch r.RecordMode {
	case ModeManual, ModeContinuous, "":
	case ModeEvents:
		if !cam.Motion.Enabled {
			return errors.New("record_mode events: needs motion detection (motion: enabled: true, or -motion)")
		}
	default:
		return fmt.Errorf("record_mode %q: want manual, continuous or events", r.RecordMode)
	}
	if r.Continuous && r.RecordMode != ModeContinuous && r.RecordMode != "" {
		return fmt.Errorf("record_mode %s: contradicts continuous: true (remove one)", r.RecordMode)
	}
	return nil
}
