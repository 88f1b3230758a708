package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/defs"
)

// restreamDemandTick is how often a demand request looks at the
// restream's state (and writes it again as a keep-alive).
const restreamDemandTick = time.Second

// restreamDemand holds a camera's restream (mode on_demand) for as long as
// the request is open: MediaMTX's runOnDemand runs a curl of it while
// someone watches and interrupts it when the last viewer leaves. The answer
// is text, one line per state of the restream (idle, connecting, running,
// retrying: reason), written again every 15 s.
func (s *Server) restreamDemand(c *gin.Context) {
	cam := c.MustGet(cameraKey).(Camera)
	if cam.Restream == nil {
		abortWithError(c, s.log, fmt.Errorf("camera %q has no restream (set restream: in its config): %w", cam.View.Name(), defs.ErrNotFound))
		return
	}
	release := cam.Restream.Demand()
	defer release()
	s.log.Info("restream asked for", "camera", cam.View.Name(), "client", c.ClientIP())
	defer s.log.Info("restream no longer asked for", "camera", cam.View.Name(), "client", c.ClientIP())

	h := c.Writer.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.Writer.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(c.Writer)
	write := func(line string) error {
		if err := rc.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := fmt.Fprintln(c.Writer, line); err != nil {
			return err
		}
		return rc.Flush()
	}
	line := func() string {
		st := cam.Restream.Status()
		if st.Error != "" {
			return st.State + ": " + st.Error
		}
		return st.State
	}
	last := line()
	if write(last) != nil {
		return
	}
	tick := time.NewTicker(restreamDemandTick)
	defer tick.Stop()
	lastWrite := time.Now()
	ctx := c.Request.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if l := line(); l != last || now.Sub(lastWrite) >= eventKeepAlive {
				if write(l) != nil {
					return
				}
				last, lastWrite = l, now
			}
		}
	}
}
