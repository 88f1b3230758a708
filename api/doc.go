// Package api serves camrec over HTTP: the REST API under /api/v1 (camera
// status, recording on/off, the recordings catalogue and its files), the live
// MJPEG preview and JPEG snapshots of each camera, /healthz, and the web page
// from package web. The whole API is described by the OpenAPI 3.1 document
// openapi.json (served at /api/v1/openapi.json), which tests hold to the
// routes and to every answer of the end-to-end tests.
//
// It depends on the pipeline only through the small interfaces declared
// here (CameraView, Recorder, Catalog), so tests can drive it with real
// cameras and hubs and fake recorders. Errors are mapped to HTTP status codes
// in one place, errorStatus, and every error body is JSON {"error": "..."}.
//
// The router is gin. gin's mode is package-global state: the program should
// call gin.SetMode(gin.ReleaseMode) once at start-up, before New, so gin does
// not print its debug route table.
package api
