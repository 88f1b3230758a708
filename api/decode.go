package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// bodyReadTimeout bounds the read of a request body, so a client that
// sends a body byte by byte cannot hold a connection.
const bodyReadTimeout = 10 * time.Second

// decodeStrict decodes the request body, at most maxBodyBytes, into v as
// exactly one JSON value whose fields all exist in v. The Content-Type must
// be application/json: a browser can send text/plain or a form across
// sites without asking first, but not JSON. Errors wrap errBadRequest or
// errMediaType, or are *http.MaxBytesError for a body that is too large.
func decodeStrict(c *gin.Context, v any) error {
	ct := c.Request.Header.Get("Content-Type")
	empty := ct == "" && c.Request.ContentLength == 0 // reported as an empty body below
	if mt, _, err := mime.ParseMediaType(ct); !empty && (err != nil || mt != "application/json") {
		return fmt.Errorf("%w: Content-Type %q: send the body as application/json", errMediaType, ct)
	}
	rc := http.NewResponseController(c.Writer)
	if err := rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("set read deadline: %w", err)
	}
	// The server keeps reading in the background while the handler runs;
	// a deadline left behind would end the request.
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return fmt.Errorf("request body larger than %d bytes: %w", maxBodyBytes, err)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: empty request body, want a JSON object", errBadRequest)
		default:
			return fmt.Errorf("%w: invalid JSON body: %v", errBadRequest, err)
		}
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("request body larger than %d bytes: %w", maxBodyBytes, err)
		}
		return fmt.Errorf("%w: unexpected data after the JSON object", errBadRequest)
	}
	return nil
}
