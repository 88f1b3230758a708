package api

import (
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/auth"
	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/internal/upload"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/detect"
	"github.com/camrec/camrec/pipeline/record"
	"github.com/camrec/camrec/pipeline/restream"
	"github.com/camrec/camrec/pipeline/store"
	"github.com/camrec/camrec/web"
)

// CameraView is what the API reads from a camera. *pipeline.Camera
// implements it.
type CameraView interface {
	Name() string
	Status() pipeline.CameraStatus
	PreviewHub() *pipeline.Hub
	// Snapshot returns the latest frame as a JPEG (encoding it on demand
	// for a raw camera); its error wraps defs.ErrUnavailable before the
	// first frame.
	Snapshot(ctx context.Context) (*pipeline.Frame, error)
}

// Recorder switches a camera's recording on and off.
type Recorder interface {
	// SetActive starts (true) or stops (false) recording and returns the
	// resulting status. Errors name the camera, and wrap
	// defs.ErrFFmpegMissing when ffmpeg cannot be run.
	SetActive(ctx context.Context, active bool) (record.RecordingStatus, error)
	Status() record.RecordingStatus
}

// Catalog is the list of recordings on disk.
type Catalog interface {
	// List returns the recordings of camera ("" = all), newest first.
	List(camera string) []store.Recording
	// Get returns one recording; the error wraps defs.ErrNotFound for an
	// unknown id.
	Get(id string) (store.Recording, error)
	// Open opens a recording's file for reading; the caller closes it.
	Open(id string) (*os.File, store.Recording, error)
	// Delete removes a recording; the error wraps defs.ErrConflict while
	// it is still being written.
	Delete(id string) error
}

// Camera is one camera as the API sees it.
type Camera struct {
	View     CameraView
	Recorder Recorder     // nil: recording is not available for this camera
	Controls ControlPanel // nil: the camera has no controls (test:, file:, pipe:)
	Restream Restream     // nil: the camera is not restreamed
	Motion   MotionView   // nil: no motion detection
}

// MotionView is a camera's motion detection (*detect.Stage).
type MotionView interface {
	Status() detect.Status
	// SetArmed sets the user's arming override (nil: follow the schedule).
	SetArmed(armed *bool) error
	// SetAreas replaces the masks and zones (nil: keep that kind); the
	// error wraps defs.ErrInvalid for bad polygons or names.
	SetAreas(masks []motion.Polygon, zones []motion.Zone) error
}

// Restream is a camera's publication to a media server
// (*restream.Restreamer).
type Restream interface {
	Status() restream.Status
	// Demand asks for the restream (mode on_demand) until release.
	Demand() (release func())
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

	// Auth checks users, tokens and sessions; nil means auth is off and
	// every request acts as an operator (loopback, or a trusted proxy).
	Auth *auth.Authenticator
	// HostCheck refuses requests whose Host is not an IP literal,
	// localhost or one of AllowedHosts (DNS rebinding): lower-case names
	// without a trailing dot, as package config gives them.
	HostCheck    bool
	AllowedHosts []string
	// MaxClients is the most preview streams per camera; 0 means 32.
	MaxClients int
	// Metrics serves the Prometheus exposition at /metrics (viewers whose
	// access is not limited to some cameras); nil means no /metrics.
	Metrics http.Handler
	// Events feeds GET /api/v1/events; nil means no events.
	Events EventFeed
	// MotionEvents is the catalogue of motion events; nil means none
	// (GET /api/v1/motion-events answers an empty list).
	MotionEvents MotionEvents
	// Uploads shows the cameras' upload status and plays recordings whose
	// local copy was deleted after their upload; nil means no uploads.
	Uploads Uploads
}

// Uploads is the upload side of camrec (upload.Uploader).
type Uploads interface {
	// Status is camera's upload status; false when it does not upload.
	Status(camera string) (upload.Status, bool)
	// Presign returns a short-lived URL of an uploaded recording's object;
	// download asks for it to be saved rather than played.
	Presign(ctx context.Context, camera, id string, download bool) (*url.URL, error)
	// Origins are the S3 servers' origins (scheme://host:port), which the
	// page's player is redirected to.
	Origins() []string
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
	metrics      http.Handler
	events       EventFeed
	motionEvents MotionEvents
	uploads      Uploads
	csp          string // the pages' Content-Security-Policy

	auth         *auth.Authenticator
	rules        map[string]rule // "METHOD /full/path" → access rule
	hostCheck    bool
	allowedHosts []string
	crossOrigin  *http.CrossOriginProtection
	maxClients   int
	streams      map[string]*streamLimit // by camera name
	loginTmpl    *template.Template      // login.html of web; nil if it does not parse
	loginTmplErr error
	// tokenFailures limits the log lines of wrong tokens.
	tokenFailures failureLog
	// eventStreams counts the open event streams, in all and per caller.
	eventStreams eventLimit
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
	// minStreamFPS: one frame every 100 s is the slowest cap.
	minStreamFPS      = 0.01
	defaultMaxClients = 32
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
		auth:         cfg.Auth,
		rules:        map[string]rule{},
		hostCheck:    cfg.HostCheck,
		allowedHosts: cfg.AllowedHosts,
		crossOrigin:  http.NewCrossOriginProtection(),
		maxClients:   cfg.MaxClients,
		streams:      map[string]*streamLimit{},
	}
	if s.maxClients <= 0 {
		s.maxClients = defaultMaxClients
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
	s.metrics, s.events, s.uploads = cfg.Metrics, cfg.Events, cfg.Uploads
	s.motionEvents = cfg.MotionEvents
	if s.motionEvents == nil {
		s.motionEvents = noMotionEvents{}
	}
	var origins []string
	if s.uploads != nil {
		origins = s.uploads.Origins()
	}
	s.csp = pageCSP(origins)
	s.loginTmpl, s.loginTmplErr = template.ParseFS(s.web, "login.html")
	for _, c := range cfg.Cameras {
		name := c.View.Name()
		if _, dup := s.byName[name]; dup {
			panic(fmt.Sprintf("api: two cameras named %q", name))
		}
		s.byName[name] = c
		s.streams[name] = &streamLimit{}
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
	r.Use(s.recovery, s.logRequests, s.guard)
	r.NoRoute(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusNotFound, errorBody{Error: "no such endpoint: " + c.Request.URL.Path})
	})
	r.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, errorBody{Error: "method " + c.Request.Method + " not allowed on " + c.Request.URL.Path})
	})

	public := rule{need: accessPublic}
	viewer := rule{need: accessViewer}
	operator := rule{need: accessOperator}
	media := rule{need: accessViewer, queryToken: tokenInQuery}
	// read registers GET and HEAD (monitors use HEAD; net/http sends no
	// body for it).
	read := func(g *gin.RouterGroup, p string, ru rule, h ...gin.HandlerFunc) {
		s.handle(g, http.MethodGet, p, ru, h...)
		s.handle(g, http.MethodHead, p, ru, h...)
	}
	root := &r.RouterGroup

	read(root, "/", viewer, s.index)
	read(root, "/login", public, s.loginPage)
	s.handle(root, http.MethodPost, "/login", public, s.login)
	s.handle(root, http.MethodPost, "/logout", public, s.logout)
	read(root, "/static/*file", public, s.static)
	read(root, "/healthz", rule{need: accessPublic, identify: true}, s.healthz)
	s.handle(root, http.MethodGet, "/stream.mjpg", media, s.firstCamera, s.stream)
	s.handle(root, http.MethodHead, "/stream.mjpg", media, s.firstCamera, s.streamHead)
	read(root, "/snapshot.jpg", media, s.firstCamera, s.snapshot)
	if s.metrics != nil {
		s.handle(root, http.MethodGet, "/metrics", viewer, s.serveMetrics)
	}

	v1 := r.Group("/api/v1")
	read(v1, "/openapi.json", viewer, s.openAPI)
	read(v1, "/version", viewer, s.versionInfo)
	read(v1, "/me", viewer, s.me)
	read(v1, "/cameras", viewer, s.listCameras)
	if s.events != nil {
		s.handle(v1, http.MethodGet, "/events", viewer, s.streamEvents)
	}
	cam := v1.Group("/cameras/:cam", s.namedCamera)
	read(cam, "", viewer, s.getCamera)
	s.handle(cam, http.MethodGet, "/stream.mjpg", media, s.stream)
	s.handle(cam, http.MethodHead, "/stream.mjpg", media, s.streamHead)
	read(cam, "/snapshot.jpg", media, s.snapshot)
	read(cam, "/recording", viewer, s.getRecording)
	s.handle(cam, http.MethodPut, "/recording", operator, s.setRecording)
	s.handle(cam, http.MethodPost, "/recording", operator, s.setRecording)
	s.handle(cam, http.MethodPost, "/restream/demand", operator, s.restreamDemand)
	read(cam, "/motion", viewer, s.getMotion)
	s.handle(cam, http.MethodPut, "/motion", operator, s.setMotion)
	read(cam, "/controls", viewer, s.listControls)
	s.handle(cam, http.MethodPut, "/controls", operator, s.setControl)

	read(v1, "/motion-events", viewer, s.listMotionEvents)
	ev := v1.Group("/motion-events/:id")
	read(ev, "", viewer, s.getMotionEvent)
	s.handle(ev, http.MethodDelete, "", operator, s.deleteMotionEvent)
	read(ev, "/snapshot.jpg", media, s.motionEventSnapshot)

	read(v1, "/recordings", viewer, s.listRecordings)
	rec := v1.Group("/recordings/:id", s.checkRecordingID)
	read(rec, "", viewer, s.getRecordingEntry)
	read(rec, "/file", viewer, s.recordingFile)
	s.handle(rec, http.MethodDelete, "", operator, s.deleteRecording)
	return r
}

// cameraKey is the gin context key of the camera a request is about.
const cameraKey = "camrec.camera"

// namedCamera resolves :cam, answering 404 for an unknown name and for a
// camera the caller may not see (its existence is not revealed).
func (s *Server) namedCamera(c *gin.Context) {
	name := c.Param("cam")
	cam, ok := s.byName[name]
	if !ok || !identity(c).CanSee(name) {
		abortWithError(c, s.log, fmt.Errorf("camera %q: %w", name, defs.ErrNotFound))
		return
	}
	c.Set(cameraKey, cam)
}

// firstCamera selects the first camera the caller may see for the short
// aliases.
func (s *Server) firstCamera(c *gin.Context) {
	id := identity(c)
	for _, cam := range s.cams {
		if id.CanSee(cam.View.Name()) {
			c.Set(cameraKey, cam)
			return
		}
	}
	abortWithError(c, s.log, fmt.Errorf("no camera configured: %w", defs.ErrNotFound))
}

// visibleCameras returns the cameras the caller may see, in order.
func (s *Server) visibleCameras(c *gin.Context) []Camera {
	id := identity(c)
	out := make([]Camera, 0, len(s.cams))
	for _, cam := range s.cams {
		if id.CanSee(cam.View.Name()) {
			out = append(out, cam)
		}
	}
	return out
}

func cameraOf(c *gin.Context) Camera {
	return c.MustGet(cameraKey).(Camera)
}

func (s *Server) versionInfo(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"version": s.version})
}
