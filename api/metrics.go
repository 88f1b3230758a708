package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// serveMetrics answers GET /metrics with the Prometheus exposition. It
// covers every camera, so an identity limited to some cameras (which may
// not learn that the others exist) is refused.
func (s *Server) serveMetrics(c *gin.Context) {
	if id := identity(c); id.Cameras != nil {
		c.AbortWithStatusJSON(http.StatusForbidden, errorBody{Error: "metrics cover every camera: " + id.Name + " may see only some"})
		return
	}
	s.metrics.ServeHTTP(c.Writer, c.Request)
}
