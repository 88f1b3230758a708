package main

import (
	"github.com/camrec/camrec/internal/config"
	"github.com/camrec/camrec/pipeline"
)

// recorderConfig maps a camera's settings to its recorder's.
func recorderConfig(c config.Camera, recordDir, ffmpegPath string, ffmpegErr error) pipeline.RecorderConfig {
	return pipeline.RecorderConfig{
		Camera: c.Name, Dir: recordDir, Container: c.Container, Codec: c.Codec,
		Preset: c.Preset, CRF: c.CRF, FFmpeg: ffmpegPath, FFmpegErr: ffmpegErr,
	}
}
