package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
)

// decodeStrict decodes the request body, at most maxBodyBytes, into v as
// exactly one JSON value whose fields all exist in v. The Content-Type must
// be application/json: a browser can send text/plain or a form across
// sites without asking first, but not JSON. Errors wrap errBadRequest or
// errMediaType, or are *http.MaxBytesError for a body that is too large.
func decodeStrict(c *gin.Context, v any) error { return decodeStrictN(c, v, maxBodyBytes) }

// decodeStrictN is decodeStrict with a body of at most limit bytes.
func decodeStrictN(c *gin.Context, v any, limit int64) error {
	// An empty body without a type is reported as an empty body below.
	if c.Request.Header.Get("Content-Type") != "" || c.Request.ContentLength != 0 {
		if err := requireType(c.Request, "application/json"); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return fmt.Errorf("request body larger than %d bytes: %w", limit, err)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: empty request body, want a JSON object", errBadRequest)
		default:
			return fmt.Errorf("%w: invalid JSON body: %v", errBadRequest, err)
		}
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("request body larger than %d bytes: %w", limit, err)
		}
		return fmt.Errorf("%w: unexpected data after the JSON object", errBadRequest)
	}
	return nil
}

// requireType checks that the request's body is of media type want
// (parameters such as charset aside); the error wraps errMediaType.
func requireType(r *http.Request, want string) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != want {
		return fmt.Errorf("%w: Content-Type %q: send the body as %s", errMediaType, ct, want)
	}
	return nil
}
