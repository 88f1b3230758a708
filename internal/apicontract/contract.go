// Package apicontract checks camrec's HTTP answers against its OpenAPI 3.1
// document (api/openapi.json): the status code and content type of every
// answer, and the body of every JSON answer, including fields the document
// does not declare. Only tests use it: the api package's unit tests, and
// the end-to-end tests, whose HTTP clients route every answer through
// Contract.Transport.
package apicontract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi-validator/strict"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// Contract is a parsed OpenAPI document that checks responses.
type Contract struct {
	model *v3.Document
	opts  *config.ValidationOptions

	mu      sync.Mutex // the validators' caches are not documented as safe for concurrent use
	v       validator.Validator
	schemas schema_validation.SchemaValidator
}

// New parses an OpenAPI 3.1 document. Responses are checked in strict
// mode: a JSON property the document does not declare is an error, even
// where the document itself allows more (clients generated from it stay
// open to new fields; camrec must not add one without documenting it).
func New(doc []byte) (*Contract, error) {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("parse OpenAPI document: %w", err)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build OpenAPI model: %w", err)
	}
	// Headers camrec sets on many answers that the document does not list
	// per response (security headers, range support): strict mode would
	// otherwise report them wherever a response declares headers of its own.
	ignored := []string{
		"x-content-type-options", "referrer-policy", "content-security-policy", "x-frame-options",
		"x-accel-buffering", "accept-ranges", "content-range", "content-disposition", "location",
		"www-authenticate", "retry-after",
	}
	// The document itself (GET /api/v1/openapi.json) is checked to its
	// top-level keys only; no other body of camrec has them.
	docParts := []string{"$.body.info", "$.body.tags", "$.body.security", "$.body.paths", "$.body.components"}
	opts := []config.Option{config.WithStrictMode(), config.WithFormatAssertions(), config.WithStrictIgnoredHeadersExtra(ignored...), config.WithStrictIgnorePaths(docParts...)}
	v, errs := validator.NewValidator(d, opts...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("OpenAPI validator: %w", errors.Join(errs...))
	}
	return &Contract{model: &m.Model, opts: config.NewValidationOptions(opts...), v: v,
		schemas: schema_validation.NewSchemaValidator(opts...)}, nil
}

// ValidateDocument checks the document against the OpenAPI 3.1 schema.
func (c *Contract) ValidateDocument() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok, errs := c.v.ValidateDocument(); !ok {
		return fmt.Errorf("OpenAPI document: %w", joinValidation(errs))
	}
	return nil
}

// CheckResponse checks resp, camrec's answer to req, against the document.
//
//   - A route the document has: the status must be one the operation
//     lists, the content type one that status lists, and a JSON body must
//     match its schema. The body of a JSON answer is read and put back;
//     other bodies (streams, files, pages) are not read.
//   - A method or path the document does not have: camrec must refuse it
//     with a 4xx and the Error body (unknown endpoints, 405, path tricks).
func (c *Contract) CheckResponse(req *http.Request, resp *http.Response) error {
	route := req.Method + " " + req.URL.Path
	item, _, tmpl := paths.FindPath(req, c.model, c.opts)
	var op *v3.Operation
	if item != nil {
		op = helpers.ExtractOperation(req, item)
	}
	if op != nil {
		route = req.Method + " " + tmpl
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("OpenAPI contract: %s (%s %s) answered %d %q: %s",
			route, req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), fmt.Sprintf(format, args...))
	}
	isJSON := mediaType(resp.Header.Get("Content-Type")) == "application/json"
	var body []byte
	if isJSON && req.Method != http.MethodHead {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if err != nil {
			return fail("reading the body: %v", err)
		}
		body = b
	}

	if op == nil {
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			return fail("the document has no such operation, and camrec did not refuse it with a 4xx")
		}
		if req.Method == http.MethodHead {
			return nil
		}
		if err := checkErrorBody(isJSON, body); err != nil {
			return fail("the document has no such operation; the refusal is not the Error body: %v", err)
		}
		return nil
	}

	if !isJSON || req.Method == http.MethodHead {
		return c.checkStatusAndType(op, resp, fail)
	}
	check := *resp
	check.Body = io.NopCloser(bytes.NewReader(body))
	c.mu.Lock()
	ok, errs := c.v.ValidateHttpResponse(req, &check)
	c.mu.Unlock()
	if !ok {
		return fail("%v; body: %s", joinValidation(errs), truncate(body))
	}
	return nil
}

// CheckSchema checks a JSON value against the document's schema
// components/schemas/name, strictly like a body: for what travels inside a
// stream, such as the data of a Server-Sent Event.
func (c *Contract) CheckSchema(name string, data []byte) error {
	var proxy interface{ Schema() *base.Schema }
	if c.model.Components != nil && c.model.Components.Schemas != nil {
		if p, ok := c.model.Components.Schemas.Get(name); ok {
			proxy = p
		}
	}
	if proxy == nil {
		return fmt.Errorf("OpenAPI contract: no schema %q", name)
	}
	schema := proxy.Schema()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("OpenAPI contract: %s: %w: %s", name, err, truncate(data))
	}
	const version = 3.1
	c.mu.Lock()
	ok, errs := c.schemas.ValidateSchemaBytesWithVersion(schema, data, version)
	res := strict.NewValidator(c.opts, version).Validate(strict.Input{
		Schema: schema, Data: v, Direction: strict.DirectionResponse, Options: c.opts, BasePath: "$", Version: version,
	})
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("OpenAPI contract: not a %s: %w: %s", name, joinValidation(errs), truncate(data))
	}
	if !res.Valid {
		var undeclared []string
		for _, u := range res.UndeclaredValues {
			undeclared = append(undeclared, u.Path)
		}
		return fmt.Errorf("OpenAPI contract: %s: not in the document: %s: %s", name, strings.Join(undeclared, ", "), truncate(data))
	}
	return nil
}

// checkStatusAndType checks a response whose body is not read: its status
// is listed for the operation and, where that status declares content, its
// content type is one of them.
func (c *Contract) checkStatusAndType(op *v3.Operation, resp *http.Response, fail func(string, ...any) error) error {
	if op.Responses == nil {
		return fail("the operation lists no responses")
	}
	code := strconv.Itoa(resp.StatusCode)
	r := op.Responses.Codes.GetOrZero(code)
	if r == nil {
		r = op.Responses.Codes.GetOrZero(code[:1] + "XX")
	}
	if r == nil {
		r = op.Responses.Default
	}
	if r == nil {
		return fail("status %d is not in the document for this operation", resp.StatusCode)
	}
	if r.Content == nil || r.Content.Len() == 0 {
		return nil
	}
	if _, ok := helpers.FindMediaType(r.Content, resp.Header.Get("Content-Type")); !ok {
		var want []string
		for k := range r.Content.KeysFromOldest() {
			want = append(want, k)
		}
		return fail("content type is not one the document lists for %d (%s)", resp.StatusCode, strings.Join(want, ", "))
	}
	return nil
}

// checkErrorBody checks that an answer is camrec's Error body,
// {"error": "..."} and nothing else.
func checkErrorBody(isJSON bool, body []byte) error {
	if !isJSON {
		return errors.New("not application/json")
	}
	var e struct {
		Error *string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return fmt.Errorf("%w: %s", err, truncate(body))
	}
	if e.Error == nil || *e.Error == "" {
		return fmt.Errorf("no error text: %s", truncate(body))
	}
	return nil
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

// joinValidation turns the validator's errors into one error naming each
// problem and where in the body it is.
func joinValidation(errs []*verrors.ValidationError) error {
	var msgs []string
	for _, e := range errs {
		m := e.Message
		if e.Reason != "" && !strings.Contains(m, e.Reason) {
			m += ": " + e.Reason
		}
		for _, s := range e.SchemaValidationErrors {
			where := s.FieldPath
			if where == "" {
				where = "$"
			}
			m += fmt.Sprintf(" [%s: %s]", where, s.Reason)
		}
		msgs = append(msgs, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

func truncate(b []byte) string {
	const max = 600
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// Transport returns a RoundTripper that sends each request through next
// (http.DefaultTransport when nil) and checks the answer. An answer that
// breaks the contract is closed and returned as the round trip's error,
// so the test that sent the request fails with the route, the status and
// what is wrong.
func (c *Contract) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return transport{c: c, next: next}
}

type transport struct {
	c    *Contract
	next http.RoundTripper
}

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if err := t.c.CheckResponse(req, resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}
