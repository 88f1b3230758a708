package main

// This file maps the validated configuration onto the pipeline's types.

import (
	"log/slog"
	"time"

	"github.com/camrec/camrec/internal/config"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/record"
	"github.com/camrec/camrec/pipeline/store"
)

// sourceOptions maps a camera's settings to what its source needs.
func sourceOptions(c config.Camera, log *slog.Logger) pipeline.SourceOptions {
	return pipeline.SourceOptions{
		Width: c.Width, Height: c.Height, FPS: c.FPS,
		Format: c.Capture.Format,
		Log:    log.With("camera", c.Name),
	}
}

// cameraConfig maps a camera's settings to its pipeline.Camera.
func cameraConfig(c config.Camera) pipeline.CameraConfig {
	return pipeline.CameraConfig{
		Name: c.Name, Device: c.Device, FPS: c.FPS, StallAfter: time.Duration(c.StallTimeout),
		PreviewFPS: c.Capture.PreviewFPS, JPEGQuality: c.Capture.JPEGQuality,
	}
}

// recorderConfig maps a camera's settings to its recorder's.
func recorderConfig(c config.Camera, recordDir, ffmpegPath string, ffmpegErr error) record.RecorderConfig {
	r := c.Recording
	return record.RecorderConfig{
		Camera: c.Name, Dir: recordDir, Container: c.Container, Codec: c.Codec,
		Preset: c.Preset, CRF: &c.CRF, FFmpeg: ffmpegPath, FFmpegErr: ffmpegErr,
		PreRecord:         time.Duration(r.PreRecord),
		PreRecordMaxBytes: int64(r.PreRecordMaxBytes),
		MaxDuration:       time.Duration(r.MaxDuration),
		Segment:           time.Duration(r.Segment),
		Continuous:        r.Continuous,
		FsyncInterval:     time.Duration(r.FsyncInterval),
		StallTimeout:      time.Duration(c.StallTimeout),
		Retention: store.Retention{
			Keep:           time.Duration(r.Keep),
			MaxDisk:        int64(r.MaxDisk),
			MinFreeBytes:   r.MinFree.Bytes,
			MinFreePercent: r.MinFree.Percent,
		},
	}
}
