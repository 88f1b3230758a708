package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDocument is the OpenAPI 3.1 document of the whole HTTP API,
// written by hand in openapi.json beside this file. Tests keep it honest:
// every route registered here is in it and every path in it is a route
// (openapi_test.go), and every response the end-to-end tests receive is
// validated against it (test/e2e).
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns a copy of the OpenAPI 3.1 document of camrec's HTTP API
// (api/openapi.json), for tests and tools that validate against it.
func OpenAPI() []byte { return append([]byte(nil), openAPIDocument...) }

// openAPI serves GET /api/v1/openapi.json.
func (s *Server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPIDocument)
}
