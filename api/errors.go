package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/camrec/camrec/internal/defs"
)

// Errors of the request itself, mapped below.
var (
	// errBadRequest marks errors in what the client sent (HTTP 400).
	errBadRequest = errors.New("bad request")
	// errBadCredentials: credentials that are malformed or wrong (401).
	errBadCredentials = errors.New("authentication failed")
	// errMediaType: a JSON endpoint got another Content-Type (415).
	errMediaType = errors.New("unsupported media type")
	// errTooManyClients: a camera serves its most preview streams (503).
	errTooManyClients = errors.New("too many clients")
)

// errorStatus maps an error to its HTTP status code. It is the only place
// where that mapping lives.
func errorStatus(err error) int {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, defs.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errBadCredentials):
		return http.StatusUnauthorized
	case errors.Is(err, errMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, errTooManyClients):
		return http.StatusServiceUnavailable
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, defs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, defs.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, defs.ErrFFmpegMissing), errors.Is(err, defs.ErrUnavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string `json:"error"`
}

// abortWithError answers with err's status code and {"error": err.Error()}.
// Server-side failures (5xx other than 503) are logged.
func abortWithError(c *gin.Context, log *slog.Logger, err error) {
	code := errorStatus(err)
	if code >= 500 && code != http.StatusServiceUnavailable {
		log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "error", err)
	}
	closeIfUnread(c)
	c.AbortWithStatusJSON(code, errorBody{Error: err.Error()})
}
