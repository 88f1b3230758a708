package api

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/web"
)

// CameraView is what the API reads from a camera. *pipeline.Camera
// implements it.
type CameraView interface {
	Name() string
	Status() pipeline.CameraStatus
	Hub() *pipeline.Hub
	// Snapshot returns the latest frame as a JPEG (encoding it on demand
	// for a raw camera); its error wraps pipeline.ErrUnavailable before the
	// first frame.
	Snapshot(ctx context.Context) (*pipeline.Frame, error)
}

// Recorder switches a camera's recording on and off.
type Recorder interface {
	// SetActive starts (true) or stops (false) recording and returns the
	// resulting status. Errors wrap pipeline.ErrFFmpegMissing when ffmpeg
	// cannot be run.
	SetActive(ctx context.Context, active bool) (pipeline.RecordingStatus, error)
	Status() pipeline.RecordingStatus
}

// Catalog is the list of recordings on disk.
type Catalog interface {
	// List returns the recordings of camera ("" = all), newest first.
	List(camera string) []pipeline.Recording
	// Get returns one recording; the error wraps pipeline.ErrNotFound for an
	// unknown id.
	Get(id string) (pipeline.Recording, error)
	// Open opens a recording's file for reading; the caller closes it.
	Open(id string) (*os.File, pipeline.Recording, error)
	// Delete removes a recording; the error wraps pipeline.ErrConflict while
	// it is still being written.
	Delete(id string) error
}

// Camera is one camera as the API sees it.
type Camera struct {
	View     CameraView
	Recorder Recorder     // nil: recording is not available for this camera
	Controls ControlPanel // nil: the camera has no controls (test:, file:, pipe:)
}

// Config is what New needs.
type Config struct {
	// Cameras in display order; the first one also answers /stream.mjpg and
	// /snapshot.jpg.
	Cameras []Camera
	Catalog Catalog
	Log     *slog.Logger
	Version string
	// StreamWriteTimeout bounds the write of one MJPEG part: a client that
	// takes longer is dropped. 0 means 10 s.
	StreamWriteTimeout time.Duration
	// Web is the page's file system; nil means web.FS().
	Web fs.FS
}

// Server routes the HTTP API.
type Server struct {
	cams         []Camera
	byName       map[string]Camera
	catalog      Catalog
	log          *slog.Logger
	version      string
	writeTimeout time.Duration
	web          fs.FS
	engine       *gin.Engine
}

const (
	defaultStreamWriteTimeout = 10 * time.Second
	// streamQueueDepth is each preview client's queue. Two frames let a
	// client that is briefly busy (one frame being written, one waiting)
	// keep full rate; a deeper queue would only add latency for a client
	// that is really too slow, which the hub then serves newer frames.
	streamQueueDepth = 2
	maxBodyBytes     = 4 << 10
	maxStreamFPS     = 120
)

// New builds the router. It panics if two cameras share a name (a
// programming error: configuration validation rejects that earlier).
func New(cfg Config) *Server {
	s := &Server{
		cams:         cfg.Cameras,
		byName:       make(map[string]Camera, len(cfg.Cameras)),
		catalog:      cfg.Catalog,
		log:          cfg.Log,
		version:      cfg.Version,
		writeTimeout: cfg.StreamWriteTimeout,
		web:          cfg.Web,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.writeTimeout <= 0 {
		s.writeTimeout = defaultStreamWriteTimeout
	}
	if s.web == nil {
		s.web = web.FS()
	}
	for _, c := range cfg.Cameras {
		name := c.View.Name()
		if _, dup := s.byName[name]; dup {
			panic(fmt.Sprintf("api: two cameras named %q", name))
		}
		s.byName[name] = c
	}
	s.engine = s.routes()
	return s
}

// Handler returns the HTTP handler serving everything.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	if err := r.SetTrustedProxies(nil); err != nil {
		panic(err) // only fails on malformed proxy lists; nil is not one
	}
	r.Use(s.recovery, s.logRequests)
	r.NoRoute(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusNotFound, errorBody{Error: "no such endpoint: " + c.Request.URL.Path})
	})
	r.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, errorBody{Error: "method " + c.Request.Method + " not allowed on " + c.Request.URL.Path})
	})

	r.GET("/", s.index)
	r.GET("/static/*file", s.static)
	r.GET("/healthz", s.healthz)
	r.GET("/stream.mjpg", s.firstCamera, s.stream)
	r.GET("/snapshot.jpg", s.firstCamera, s.snapshot)

	v1 := r.Group("/api/v1")
	v1.GET("/version", s.versionInfo)
	v1.GET("/cameras", s.listCameras)
	cam := v1.Group("/cameras/:cam", s.namedCamera)
	cam.GET("", s.getCamera)
	cam.GET("/stream.mjpg", s.stream)
	cam.GET("/snapshot.jpg", s.snapshot)
	cam.GET("/recording", s.getRecording)
	cam.PUT("/recording", s.setRecording)
	cam.POST("/recording", s.setRecording)
	cam.GET("/controls", s.listControls)
	cam.PUT("/controls", s.setControl)

	v1.GET("/recordings", s.listRecordings)
	rec := v1.Group("/recordings/:id", s.checkRecordingID)
	rec.GET("", s.getRecordingEntry)
	rec.GET("/file", s.recordingFile)
	rec.HEAD("/file", s.recordingFile)
	rec.DELETE("", s.deleteRecording)
	return r
}

// cameraKey is the gin context key of the camera a request is about.
const cameraKey = "camrec.camera"

// namedCamera resolves :cam, answering 404 for an unknown name.
func (s *Server) namedCamera(c *gin.Context) {
	name := c.Param("cam")
	cam, ok := s.byName[name]
	if !ok {
		abortWithError(c, s.log, fmt.Errorf("camera %q: %w", name, pipeline.ErrNotFound))
		return
	}
	c.Set(cameraKey, cam)
}

// firstCamera selects the first camera for the short aliases.
func (s *Server) firstCamera(c *gin.Context) {
	if len(s.cams) == 0 {
		abortWithError(c, s.log, fmt.Errorf("no camera configured: %w", pipeline.ErrNotFound))
		return
	}
	c.Set(cameraKey, s.cams[0])
}

func cameraOf(c *gin.Context) Camera {
	return c.MustGet(cameraKey).(Camera)
}

func (s *Server) versionInfo(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"version": s.version})
}
