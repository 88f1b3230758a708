package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/pipeline"
)

// ControlPanel lists and sets a camera's controls (brightness, exposure …).
// *pipeline.Controls implements it.
type ControlPanel interface {
	// List returns the controls with their current values. Errors wrap
	// defs.ErrUnavailable while the camera is not connected.
	List(ctx context.Context) ([]pipeline.Control, error)
	// Set sets the control named target (name, key or numeric id) and
	// returns it as the driver then reports it. Errors wrap
	// defs.ErrNotFound (no such control), defs.ErrInvalid (value
	// out of range, read-only control), defs.ErrConflict or
	// defs.ErrUnavailable.
	Set(ctx context.Context, target string, value int64) (pipeline.Control, error)
}

// setControlRequest is the body of PUT /api/v1/cameras/{cam}/controls:
// {"name": "brightness", "value": 128} or {"id": 9963776, "value": 128}.
// The name may be the driver's ("Brightness") or its key ("brightness").
type setControlRequest struct {
	Name  *string `json:"name"`
	ID    *uint32 `json:"id"`
	Value *int64  `json:"value"`
}

// controlPanel returns the camera's controls, or aborts with 404 for a
// camera that has none (test:, file: and pipe: sources).
func (s *Server) controlPanel(c *gin.Context) (ControlPanel, bool) {
	cam := cameraOf(c)
	if cam.Controls == nil {
		abortWithError(c, s.log, fmt.Errorf("camera %q has no controls (not a V4L2 device): %w", cam.View.Name(), defs.ErrNotFound))
		return nil, false
	}
	return cam.Controls, true
}

// listControls answers GET /api/v1/cameras/{cam}/controls with the array
// of the camera's controls.
func (s *Server) listControls(c *gin.Context) {
	panel, ok := s.controlPanel(c)
	if !ok {
		return
	}
	list, err := panel.List(c.Request.Context())
	if err != nil {
		abortWithError(c, s.log, err)
		return
	}
	out := make([]ControlBody, 0, len(list)) // [] rather than null
	for _, ctl := range list {
		out = append(out, controlBody(ctl))
	}
	c.JSON(http.StatusOK, out)
}

// setControl answers PUT /api/v1/cameras/{cam}/controls with the control
// as it is after the change.
func (s *Server) setControl(c *gin.Context) {
	panel, ok := s.controlPanel(c)
	if !ok {
		return
	}
	var req setControlRequest
	if err := decodeStrict(c, &req); err != nil {
		abortWithError(c, s.log, err)
		return
	}
	var target string
	switch {
	case req.Name != nil && req.ID != nil:
		abortWithError(c, s.log, fmt.Errorf("%w: give \"name\" or \"id\", not both", errBadRequest))
		return
	case req.Name != nil && *req.Name != "":
		target = *req.Name
	case req.ID != nil && *req.ID != 0:
		target = fmt.Sprint(*req.ID)
	default:
		abortWithError(c, s.log, fmt.Errorf("%w: field \"name\" or \"id\" is required", errBadRequest))
		return
	}
	if req.Value == nil {
		abortWithError(c, s.log, fmt.Errorf("%w: field \"value\" is required", errBadRequest))
		return
	}
	got, err := panel.Set(c.Request.Context(), target, *req.Value)
	if err != nil {
		abortWithError(c, s.log, err)
		return
	}
	c.JSON(http.StatusOK, SetControlBody{ControlBody: controlBody(got), Volatile: true})
}
