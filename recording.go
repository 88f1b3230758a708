package main

import (
	"time"

	"github.com/camrec/camrec/internal/config"
	"github.com/camrec/camrec/pipeline"
)

// recorderConfig maps a camera's settings to its recorder's.
func recorderConfig(c config.Camera, recordDir, ffmpegPath string, ffmpegErr error) pipeline.RecorderConfig {
	r := c.Recording
	return pipeline.RecorderConfig{
		Camera: c.Name, Dir: recordDir, Container: c.Container, Codec: c.Codec,
		Preset: c.Preset, CRF: &c.CRF, FFmpeg: ffmpegPath, FFmpegErr: ffmpegErr,
		PreRecord:         time.Duration(r.PreRecord),
		PreRecordMaxBytes: int64(r.PreRecordMaxBytes),
		MaxDuration:       time.Duration(r.MaxDuration),
		Segment:           time.Duration(r.Segment),
		Continuous:        r.Continuous,
		FsyncInterval:     time.Duration(r.FsyncInterval),
		StallTimeout:      time.Duration(c.StallTimeout),
		Retention: pipeline.Retention{
			Keep:           time.Duration(r.Keep),
			MaxDisk:        int64(r.MaxDisk),
			MinFreeBytes:   r.MinFree.Bytes,
			MinFreePercent: r.MinFree.Percent,
		},
	}
}
