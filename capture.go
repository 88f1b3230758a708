package main

import (
	"log/slog"
	"time"

	"github.com/camrec/camrec/internal/config"
	"github.com/camrec/camrec/pipeline"
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
