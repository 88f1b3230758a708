package main

// This file maps the validated configuration onto the pipeline's types.

import (
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/internal/config"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/hooks"
	"github.com/camrec/camrec/internal/mqtt"
	"github.com/camrec/camrec/internal/upload"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/detect"
	"github.com/camrec/camrec/pipeline/eventlog"
	"github.com/camrec/camrec/pipeline/record"
	"github.com/camrec/camrec/pipeline/restream"
	"github.com/camrec/camrec/pipeline/store"
)

// sourceOptions maps a camera's settings to what its source needs.
func sourceOptions(c config.Camera, log *slog.Logger) pipeline.SourceOptions {
	return pipeline.SourceOptions{
		Width: c.Width, Height: c.Height, FPS: c.FPS,
		Format: c.CaptureFormat(),
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
		Camera: c.Name, Dir: recordDir, Container: c.Container, Codec: c.Codec, Format: c.CaptureFormat(),
		Preset: c.Preset, CRF: &c.CRF, FFmpeg: ffmpegPath, FFmpegErr: ffmpegErr,
		PreRecord:         time.Duration(r.PreRecord),
		PreRecordMaxBytes: int64(r.PreRecordMaxBytes),
		MaxDuration:       time.Duration(r.MaxDuration),
		Segment:           time.Duration(r.Segment),
		Continuous:        r.Continuous,
		OnMotion:          r.RecordMode == config.ModeEvents,
		FsyncInterval:     time.Duration(r.FsyncInterval),
		StallTimeout:      time.Duration(c.StallTimeout),
		Retention: store.Retention{
			Keep:           time.Duration(r.Keep),
			MaxDisk:        int64(r.MaxDisk),
			MinFreeBytes:   r.MinFree.Bytes,
			MinFreePercent: r.MinFree.Percent,
			// Never delete the only copy of a file waiting for its upload.
			HoldForUpload: c.Upload != nil,
		},
	}
}

// mqttConfig maps the mqtt: section; the client id defaults to
// camrec-<hostname>, stable across restarts as Home Assistant needs.
func mqttConfig(m config.MQTT, recordDir string) mqtt.Config {
	id := m.ClientID
	if id == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "host"
		}
		id = "camrec-" + host
	}
	c := mqtt.Config{URL: m.URL, Username: m.Username, Password: m.Password, ClientID: id,
		TopicPrefix: m.TopicPrefix, DiscoveryPrefix: m.Discovery(), Version: version(),
		RecordDir: recordDir, DiskFree: store.DiskFree}
	if m.CAs != nil {
		c.TLS = &tls.Config{RootCAs: m.CAs, MinVersion: tls.VersionTLS12}
	}
	return c
}

// diskWatchEvery is how often the record dir's free space is looked at
// for disk_low.
const diskWatchEvery = 30 * time.Second

// diskWatch raises disk_low for every camera (their recordings are all at
// risk) when the record dir's disk runs low.
func diskWatch(cfg *config.Config, bus *events.Bus) store.DiskWatch {
	return store.DiskWatch{
		Dir: cfg.RecordDir, Bytes: cfg.DiskLow.Bytes, Percent: cfg.DiskLow.Percent,
		Every: diskWatchEvery, Free: store.DiskFree,
		Low: func(free int64) {
			for _, c := range cfg.Cameras {
				bus.Publish(events.Event{Type: events.DiskLow, Camera: c.Name, Bytes: free})
			}
		},
	}
}

// hooksConfig maps the cameras' hooks and the webhook to the hook runner's
// settings.
func hooksConfig(cfg *config.Config, getenv func(string) string, log *slog.Logger) hooks.Config {
	h := hooks.Config{
		WebhookURL:      cfg.Notify.WebhookURL,
		WebhookSnapshot: cfg.Notify.WebhookSnapshot,
		UserAgent:       "camrec/" + version(),
		Getenv:          getenv,
		Log:             log,
	}
	for _, t := range cfg.Notify.WebhookEvents {
		h.WebhookEvents = append(h.WebhookEvents, events.Type(t))
	}
	for _, c := range cfg.Cameras {
		h.Cameras = append(h.Cameras, hooks.Camera{
			Name:             c.Name,
			OnRecordingStart: c.Hooks.OnRecordingStart, OnRecordingEnd: c.Hooks.OnRecordingEnd,
			OnCameraLost: c.Hooks.OnCameraLost, OnCameraFound: c.Hooks.OnCameraFound,
			OnMotionStart: c.Hooks.OnMotionStart, OnMotionEnd: c.Hooks.OnMotionEnd,
			Timeout: time.Duration(c.Hooks.HookTimeout),
		})
	}
	return h
}

// uploadConfig maps the cameras' upload sections (after Load, each camera's
// own or the global one) to the uploader's targets.
func uploadConfig(cfg *config.Config, cat *store.Catalog, bus *events.Bus, log *slog.Logger) upload.Config {
	u := upload.Config{Targets: map[string]upload.Target{}, Catalog: cat, Events: bus, Log: log}
	for _, c := range cfg.Cameras {
		if t := c.Upload; t != nil {
			u.Targets[c.Name] = upload.Target{
				Endpoint: t.Endpoint, Bucket: t.Bucket, Prefix: t.Prefix, Region: t.Region,
				AccessKey: t.AccessKey, SecretKey: t.SecretKey, CAs: t.CAs,
				DeleteLocalAfter: time.Duration(t.DeleteLocalAfter),
			}
		}
	}
	return u
}

// restreamParts builds a camera's restream: the publisher, and for a
// camera that does not deliver H.264 the encoder it publishes. When the
// recording encodes with libx264 into mp4 or mkv, the recorder takes the
// same encoder's frames and copies them (rcfg is changed to say so): one
// encode for both. recSrc is what the recorder records.
func restreamParts(c config.Camera, cam *pipeline.Camera, rcfg *record.RecorderConfig, ffmpegPath string, bus *events.Bus, log *slog.Logger) (
	enc *restream.Encoder, rs *restream.Restreamer, recSrc record.FrameSource, err error) {
	recSrc = cam
	if !c.Restream.Enabled() {
		return nil, nil, recSrc, nil
	}
	var pub restream.Source = cam
	if c.Capture.Format != pipeline.FormatH264 {
		enc = restream.NewEncoder(restream.EncoderConfig{Camera: c.Name, FFmpeg: ffmpegPath,
			Preset: c.Preset, CRF: &c.CRF, FPS: c.FPS}, cam, log)
		pub = enc
		if c.Codec == record.DefaultCodec && (c.Container == "mp4" || c.Container == "mkv") {
			recSrc = enc
			rcfg.Codec, rcfg.Format = "copy", pipeline.FormatH264
		}
	}
	rs, err = restream.New(restream.Config{Camera: c.Name, URL: c.Restream.URL, Mode: c.Restream.Mode,
		FFmpeg: ffmpegPath, Events: bus}, pub, log)
	return enc, rs, recSrc, err
}

// motionStores opens the events catalogue and the motion state file in
// <record_dir>/.events when a camera detects motion, and returns how long
// each such camera's events are kept (its keep; 0: the catalogue's
// default). A record dir that cannot hold them leaves detection running
// without a catalogue (events still go to SSE, MQTT and hooks) and the
// page's changes unsaved; the error is logged.
func motionStores(cfg *config.Config, log *slog.Logger) (*eventlog.Log, *detect.StateFile, map[string]time.Duration) {
	keep := map[string]time.Duration{}
	for _, c := range cfg.Cameras {
		if c.Motion.Enabled {
			keep[c.Name] = time.Duration(c.Recording.Keep)
		}
	}
	if len(keep) == 0 {
		return nil, nil, nil
	}
	dir := filepath.Join(cfg.RecordDir, ".events")
	evlog, err := eventlog.Open(dir, log)
	if err != nil {
		log.Error("motion events will not be kept", "error", err.Error())
		evlog = nil
	}
	state, err := detect.OpenState(filepath.Join(dir, "motion.json"), log)
	if err != nil {
		log.Error("motion: arming and masks changed on the page will not be kept", "error", err.Error())
		state = nil
	}
	return evlog, state, keep
}

// motionEventsOf is the API's view of evlog: a nil interface without one.
func motionEventsOf(evlog *eventlog.Log) api.MotionEvents {
	if evlog == nil {
		return nil
	}
	return evlog
}
