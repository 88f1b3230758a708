package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// decodeStrict decodes the request body, at most maxBodyBytes, into v as
// exactly one JSON value whose fields all exist in v. Errors wrap
// errBadRequest, or are *http.MaxBytesError for a body that is too large.
func decodeStrict(c *gin.Context, v any) error {
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
