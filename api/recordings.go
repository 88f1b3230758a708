package api

import (
	"fmt"
	"mime"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/pipeline/store"
)

func (s *Server) listRecordings(c *gin.Context) {
	camera := c.Query("camera")
	id := identity(c)
	if _, ok := s.byName[camera]; camera != "" && (!ok || !id.CanSee(camera)) {
		abortWithError(c, s.log, fmt.Errorf("camera %q: %w", camera, defs.ErrNotFound))
		return
	}
	list := []RecordingBody{} // [] rather than null
	for _, rec := range s.catalog.List(camera) {
		if id.CanSee(rec.Camera) {
			list = append(list, recordingBody(rec))
		}
	}
	c.JSON(http.StatusOK, list)
}

// checkRecordingID answers 404 for an id that could name anything but a
// file of the recordings directory. The catalog checks too; this is the
// second lock on the door.
func (s *Server) checkRecordingID(c *gin.Context) {
	id := c.Param("id")
	if id == "" || id == "." || strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\\\x00") || strings.Contains(id, "..") {
		abortWithError(c, s.log, fmt.Errorf("recording %q: %w", id, defs.ErrNotFound))
		return
	}
	// A recording of a camera the caller may not see does not exist for
	// them.
	if rec, err := s.catalog.Get(id); err == nil && !identity(c).CanSee(rec.Camera) {
		abortWithError(c, s.log, fmt.Errorf("recording %q: %w", id, defs.ErrNotFound))
		return
	}
}

func (s *Server) getRecordingEntry(c *gin.Context) {
	rec, err := s.catalog.Get(c.Param("id"))
	if err != nil {
		abortWithError(c, s.log, err) // the catalogue's error names the id
		return
	}
	c.JSON(http.StatusOK, recordingBody(rec))
}

func (s *Server) deleteRecording(c *gin.Context) {
	id := c.Param("id")
	rec, _ := s.catalog.Get(id) // its camera, for the event; Delete says what is wrong
	if err := s.catalog.Delete(id); err != nil {
		abortWithError(c, s.log, fmt.Errorf("delete: %w", err))
		return
	}
	// The catalogue logs the deletion; the request line says who.
	if s.events != nil {
		s.events.Publish(events.Event{Type: events.RecordingDeleted, Camera: rec.Camera, RecordingID: id, Bytes: rec.Bytes})
	}
	c.Status(http.StatusNoContent)
}

// videoType returns the Content-Type of a recording file by its extension.
func videoType(ext string) string {
	switch ext {
	case ".mp4":
		return "video/mp4"
	case ".mkv":
		return "video/x-matroska"
	case ".avi":
		return "video/x-msvideo"
	default:
		return "application/octet-stream"
	}
}

// recordingFile serves a recording's file with Range support, so browsers
// can seek; ?download=1 asks the browser to save it instead.
func (s *Server) recordingFile(c *gin.Context) {
	id := c.Param("id")
	dl := c.Query("download")
	download := dl != "" && dl != "0" && dl != "false"
	if rec, err := s.catalog.Get(id); err == nil && rec.RemoteOnly {
		s.remoteFile(c, rec, download)
		return
	}
	f, rec, err := s.catalog.Open(id)
	if err != nil {
		abortWithError(c, s.log, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		abortWithError(c, s.log, fmt.Errorf("recording %q: stat: %w", id, err))
		return
	}
	name := filepath.Base(f.Name())
	ext := strings.ToLower(filepath.Ext(name))
	if ext == "" && rec.Container != "" {
		ext = "." + rec.Container
		name += ext
	}
	h := c.Writer.Header()
	h.Set("Content-Type", videoType(ext))
	if rec.State == store.RecStateRecording {
		h.Set("Cache-Control", "no-store") // still growing
	}
	if download {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	}
	http.ServeContent(c.Writer, c.Request, name, fi.ModTime(), f)
}

// remoteFile answers for a recording whose local copy was deleted after
// its upload: a 307 to a short-lived presigned URL of its object, which the
// page's player and downloads follow.
func (s *Server) remoteFile(c *gin.Context, rec store.Recording, download bool) {
	if s.uploads == nil {
		abortWithError(c, s.log, fmt.Errorf("recording %q is only in the bucket and upload is not configured: %w", rec.ID, defs.ErrNotFound))
		return
	}
	u, err := s.uploads.Presign(c.Request.Context(), rec.Camera, rec.ID, download)
	if err != nil {
		abortWithError(c, s.log, err)
		return
	}
	c.Header("Cache-Control", "no-store") // the URL expires
	c.Redirect(http.StatusTemporaryRedirect, u.String())
}
