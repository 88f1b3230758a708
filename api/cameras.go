package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/pipeline"
)

// statusOf is cam's status as the API shows it.
func (s *Server) statusOf(cam Camera) CameraBody {
	var rec RecordingStatusBody
	if cam.Recorder != nil {
		rec = recordingStatusBody(cam.Recorder.Status())
	} else {
		rec.Error = "recording is not configured for this camera"
	}
	b := cameraBody(cam.View.Status(), s.streams[cam.View.Name()].refused.Load(), rec)
	b.HasControls = cam.Controls != nil
	if s.uploads != nil {
		if u, ok := s.uploads.Status(cam.View.Name()); ok {
			b.Upload = uploadStatusBody(u)
		}
	}
	if cam.Restream != nil {
		b.Restream = restreamStatusBody(cam.Restream.Status())
	}
	if cam.Motion != nil {
		if m := cam.Motion.Status(); m.Enabled {
			b.Motion = motionStatusBody(m)
		}
	}
	return b
}

func (s *Server) listCameras(c *gin.Context) {
	cams := s.visibleCameras(c)
	out := make([]CameraBody, 0, len(cams))
	for _, cam := range cams {
		out = append(out, s.statusOf(cam))
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getCamera(c *gin.Context) {
	c.JSON(http.StatusOK, s.statusOf(cameraOf(c)))
}

// healthBody is the body of GET /healthz.
type healthBody struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Cameras maps each camera that is not streaming to its state.
	Cameras map[string]string `json:"cameras,omitempty"`
}

// healthz answers 200 when every camera is streaming, else 503 naming the
// cameras that are not. It is public (monitors, Docker-style health
// checks); it names only the cameras the caller may see: none to a caller
// without credentials (with auth on), those of its identity to one with
// credentials (a session, Basic, a Bearer token).
func (s *Server) healthz(c *gin.Context) {
	bad := map[string]string{}
	var names []string
	hidden := false
	id := identity(c)
	for _, cam := range s.cams {
		st := cam.View.Status()
		if st.State == pipeline.StateStreaming {
			continue
		}
		if id == nil || !id.CanSee(st.Name) {
			hidden = true
			continue
		}
		bad[st.Name] = st.State
		names = append(names, st.Name+" ("+st.State+")")
	}
	if len(bad) == 0 && !hidden {
		c.JSON(http.StatusOK, healthBody{Status: "ok"})
		return
	}
	if len(bad) == 0 {
		c.JSON(http.StatusServiceUnavailable, healthBody{Status: "unhealthy"})
		return
	}
	sort.Strings(names)
	c.JSON(http.StatusServiceUnavailable, healthBody{
		Status:  "unhealthy",
		Error:   "not streaming: " + strings.Join(names, ", "),
		Cameras: bad,
	})
}

// setRecordingRequest is the body of PUT/POST /api/v1/cameras/{cam}/recording.
type setRecordingRequest struct {
	Active *bool `json:"active"`
}

func (s *Server) getRecording(c *gin.Context) {
	c.JSON(http.StatusOK, s.statusOf(cameraOf(c)).Recording)
}

func (s *Server) setRecording(c *gin.Context) {
	cam := cameraOf(c)
	var req setRecordingRequest
	if err := decodeStrict(c, &req); err != nil {
		abortWithError(c, s.log, err)
		return
	}
	if req.Active == nil {
		abortWithError(c, s.log, fmt.Errorf("%w: field \"active\" is required", errBadRequest))
		return
	}
	if cam.Recorder == nil {
		abortWithError(c, s.log, fmt.Errorf("camera %q: recording is not configured: %w", cam.View.Name(), defs.ErrUnavailable))
		return
	}
	was := cam.Recorder.Status().Active
	st, err := cam.Recorder.SetActive(c.Request.Context(), *req.Active)
	if err != nil {
		abortWithError(c, s.log, err) // the recorder's errors name the camera
		return
	}
	if st.Active != was { // an idempotent PUT switches nothing
		s.log.Info("recording switched", "camera", cam.View.Name(), "active", st.Active, "id", st.ID, "by", identity(c).Name)
	}
	c.JSON(http.StatusOK, recordingStatusBody(st))
}
