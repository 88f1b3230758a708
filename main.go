// Command camrec turns a USB webcam (or the built-in test camera) into a
// home-lab camera: live MJPEG preview, snapshots and recordings through
// ffmpeg, driven from a web page or a REST API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"

	"github.com/gin-gonic/gin"
	"golang.org/x/sync/errgroup"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/internal/config"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/hooks"
	"github.com/camrec/camrec/internal/metrics"
	"github.com/camrec/camrec/internal/mqtt"
	"github.com/camrec/camrec/internal/sdnotify"
	"github.com/camrec/camrec/internal/upload"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/detect"
	"github.com/camrec/camrec/pipeline/record"
	"github.com/camrec/camrec/pipeline/restream"
	"github.com/camrec/camrec/pipeline/store"
	"github.com/camrec/camrec/v4l2"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// eventBacklog is how many events a client of /api/v1/events may miss and
// still resume without a gap (a few minutes of a busy camrec).
const eventBacklog = 256

// run is main without the process exit, so that it reads as the wiring
// diagram of the daemon. It returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "camrec: %v\n", err)
		return 2
	}
	if cfg.Version {
		fmt.Fprintln(stdout, "camrec", version())
		return 0
	}
	if cfg.Tool.HashPassword || cfg.Tool.NewToken {
		return runTool(cfg.Tool, os.Stdin, stdout, stderr)
	}
	log := newLogger(stderr, cfg.LogLevel)
	if cfg.ListDevices {
		devs, err := v4l2.ListDevices(log)
		if err != nil {
			fmt.Fprintf(stderr, "camrec: %v\n", err)
			return 1
		}
		v4l2.WriteDeviceList(stdout, devs)
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log); errors.Is(err, errConfig) {
		log.Error("camrec cannot start", "error", err)
		return 2
	} else if err != nil {
		log.Error("camrec stopped", "error", err)
		return 1
	}
	log.Info("camrec stopped")
	return 0
}

// serve wires the cameras, recorders, catalogue and HTTP API and runs them
// until ctx is done.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	ffmpegPath, ffmpegErr := record.LookFFmpeg(cfg.FFmpeg)
	if ffmpegErr != nil {
		log.Error("recording unavailable", "error", ffmpegErr)
	}
	catalog := store.NewCatalog(cfg.RecordDir, record.LookFFprobe(ffmpegPath), log)
	if err := catalog.Scan(ctx); err != nil {
		log.Warn("recordings catalogue", "record_dir", cfg.RecordDir, "error", err)
	}
	if err := store.CheckRecordDir(cfg.RecordDir); err != nil {
		log.Error("recording unavailable", "error", err) // preview goes on
	}

	type unit struct {
		cam *pipeline.Camera
		rec *record.Recorder
		enc *restream.Encoder    // nil without a restream, or for an H.264 camera
		rs  *restream.Restreamer // nil without a restream
		det *detect.Stage
	}
	bus := events.NewBus(eventBacklog)
	// The runner subscribes now, before the cameras publish.
	hookRunner := hooks.New(hooksConfig(cfg, os.Getenv, log), bus)
	uploader, err := upload.New(uploadConfig(cfg, catalog, bus, log))
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	var uploads api.Uploads // a nil interface when no camera uploads
	if uploader.Any() {
		uploads = uploader
	}
	evlog, motionState, evKeep := motionStores(cfg, log)
	units := make([]unit, 0, len(cfg.Cameras))
	apiCams := make([]api.Camera, 0, len(cfg.Cameras))
	metricCams := make([]metrics.Camera, 0, len(cfg.Cameras))
	mqttCams := make([]mqtt.Camera, 0, len(cfg.Cameras))
	for _, c := range cfg.Cameras {
		opts := sourceOptions(c, log)
		var controls api.ControlPanel // stays a nil interface for non-V4L2 sources
		if c.IsV4L2() {
			ctl, err := pipeline.NewControls(c.Name, c.Controls, log)
			if err != nil {
				return fmt.Errorf("camera %s: %w", c.Name, err)
			}
			opts.Controls, controls = ctl, ctl
		}
		src, err := pipeline.NewSource(c.Device, opts)
		if err != nil {
			return fmt.Errorf("camera %s: %w", c.Name, err)
		}
		ccfg := cameraConfig(c)
		ccfg.Events, ccfg.FFmpeg = bus, ffmpegPath
		cam := pipeline.NewCamera(ccfg, src, log)
		rcfg := recorderConfig(c, cfg.RecordDir, ffmpegPath, ffmpegErr)
		rcfg.Events = bus
		enc, rs, recSrc, err := restreamParts(c, cam, &rcfg, ffmpegPath, bus, log)
		if err != nil {
			return fmt.Errorf("%w: %w", errConfig, err)
		}
		if err := rcfg.Validate(); err != nil {
			return fmt.Errorf("camera %s: %w", c.Name, err)
		}
		rec := record.NewRecorder(rcfg, recSrc, catalog, log)
		dcfg := detect.Config{Camera: c.Name, Motion: c.Motion, Events: bus, State: motionState}
		if evlog != nil { // the interface stays nil without a catalogue
			dcfg.Catalog = evlog
		}
		if c.Recording.RecordMode == config.ModeEvents {
			dcfg.Record = rec
		}
		det, err := detect.New(dcfg, cam, log)
		if err != nil {
			return fmt.Errorf("%w: camera %s: %w", errConfig, c.Name, err)
		}
		units = append(units, unit{cam, rec, enc, rs, det})
		apiCam := api.Camera{View: cam, Recorder: rec, Controls: controls, Motion: det}
		metricCam := metrics.Camera{Camera: cam, Recorder: rec, Uploads: uploader, Motion: det}
		if rs != nil { // the interfaces stay nil without a restream
			apiCam.Restream, metricCam.Restream = rs, rs
		}
		apiCams = append(apiCams, apiCam)
		metricCams = append(metricCams, metricCam)
		mqttCams = append(mqttCams, mqtt.Camera{View: cam, Recorder: rec, Motion: det})
	}

	sec, err := newSecurity(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen(config.ListenNetwork(cfg.Listen), cfg.Listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen: %w: another program (or another camrec) uses %s; pick another address with -listen (e.g. -listen 127.0.0.1:8081)", err, cfg.Listen)
	}
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	gin.SetMode(gin.ReleaseMode)
	srv := api.New(api.Config{
		Cameras: apiCams, Catalog: catalog, Log: log, Version: version(),
		Auth: sec.auth, HostCheck: cfg.Security.HostCheck(), AllowedHosts: cfg.Security.AllowedHosts,
		MaxClients:   cfg.Security.MaxClients,
		Events:       bus,
		Uploads:      uploads,
		MotionEvents: motionEventsOf(evlog),
		Metrics:      metrics.Handler(metrics.NewRegistry(metrics.NewCollector(metricCams, cfg.RecordDir, store.DiskFree), version())),
	})

	g, ctx := errgroup.WithContext(ctx)
	var recorders sync.WaitGroup
	for _, u := range units {
		recorders.Add(1)
		g.Go(func() error { return u.cam.Run(ctx) })
		g.Go(func() error { defer recorders.Done(); return u.rec.Run(ctx) })
		if u.enc != nil {
			g.Go(func() error { return u.enc.Run(ctx) })
		}
		if u.rs != nil {
			g.Go(func() error { return u.rs.Run(ctx) })
		}
		g.Go(func() error { return u.det.Run(ctx) })
	}
	// Hooks and MQTT stop once the recorders have: the events of their
	// last files still run hooks and reach the broker.
	notifyCtx, stopNotify := context.WithCancel(context.WithoutCancel(ctx))
	g.Go(func() error { recorders.Wait(); stopNotify(); return nil })
	g.Go(func() error { return hookRunner.Run(notifyCtx) })
	// An upload cut by the shutdown stays pending (its sidecar has no
	// uploaded_at) and starts again after the restart.
	g.Go(func() error { return uploader.Run(ctx) })
	g.Go(func() error { return srv.Serve(ctx, ln, sec.tlsConfig()) })
	if sec.tls != nil {
		g.Go(func() error { return reloadOnHUP(ctx, sec.tls, log) })
	}
	g.Go(func() error { return diskWatch(cfg, bus).Run(ctx, log) })
	if evlog != nil {
		g.Go(func() error { return evlog.RunRetention(ctx, evKeep) })
	}
	if cfg.MQTT.Enabled() {
		mcfg := mqttConfig(cfg.MQTT, cfg.RecordDir)
		if evlog != nil { // the interface stays nil without a catalogue
			mcfg.EventSnapshots = evlog
		}
		bridge := mqtt.New(mcfg, mqttCams, bus, log)
		g.Go(func() error { return bridge.Run(notifyCtx) })
	}

	scheme := "http"
	if sec.tls != nil {
		scheme = "https"
	}
	log.Info("listening", "url", scheme+"://"+ln.Addr().String()+"/", "record_dir", cfg.RecordDir, "cameras", len(units))
	sec.logExposure(ln.Addr(), cfg, log)
	if err := sdnotify.Notify(os.Getenv("NOTIFY_SOCKET"), "READY=1"); err != nil {
		log.Warn("systemd notify", "error", err)
	}
	return g.Wait()
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// buildVersion is stamped by make build (-ldflags -X main.buildVersion=…,
// from git describe); it is constant for the life of the process.
var buildVersion string

// version is the version camrec was built as: the stamped one, else the
// module version and VCS revision from the build info.
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}
