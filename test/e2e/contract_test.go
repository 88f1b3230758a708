package e2e

import (
	"fmt"
	"net/http"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/internal/apicontract"
)

// contract is api/openapi.json, parsed once. Every HTTP client of these
// tests sends through contract.Transport, so every answer camrec gives
// them — JSON bodies, errors, redirects, streams, files — is checked
// against the document: status, content type and, for JSON, the body
// (strictly: a field the document does not declare fails too). An answer
// that breaks it fails the request with the route, the status and what is
// wrong. (The browser tests' requests, made by Chromium, are not seen.)
var contract = mustContract()

// apiClient is http.DefaultClient with the contract check.
var apiClient = &http.Client{Transport: contract.Transport(nil)}

func mustContract() *apicontract.Contract {
	c, err := apicontract.New(api.OpenAPI())
	if err != nil {
		panic(fmt.Sprintf("api/openapi.json: %v", err))
	}
	return c
}
