// Package upload copies finished recordings (and their sidecars) to
// S3-compatible storage, verifies them there, and, after delete_local_after,
// deletes the local copy. The sidecar is the queue: a finished recording
// without uploaded_at is pending, so uploads resume after a restart, and
// retention never deletes a file still waiting (store.Retention's
// HoldForUpload).
package upload

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/pipeline/store"
)

// Target is where one camera's recordings go.
type Target struct {
	// Endpoint is the server's URL: http://host:port or https://host.
	Endpoint string
	Bucket   string
	// Prefix is put before <camera>/<recording id> in the object keys.
	Prefix    string
	Region    string
	AccessKey string
	SecretKey string
	// CAs replaces the system's CAs for an https endpoint (nil: system).
	CAs *x509.CertPool
	// DeleteLocalAfter deletes the local file that long after its upload
	// (0: never); the sidecar stays, marked remote-only.
	DeleteLocalAfter time.Duration
	// PartSize is the size of the parts of a multipart upload, and so the
	// largest file sent in a single PUT. Default DefaultPartSize.
	PartSize uint64
}

// DefaultPartSize is minio-go's own default part size.
const DefaultPartSize = 16 << 20

// PresignExpiry is how long a presigned URL of a remote-only recording is
// valid: long enough to start playing, short enough not to be a lasting
// credential.
const PresignExpiry = 15 * time.Minute

// Catalog is what the uploader needs of the recordings catalogue
// (store.Catalog).
type Catalog interface {
	PendingUploads(camera string) []store.Pending
	NotUploaded(camera string) int
	MarkUploaded(id string, size int64, at time.Time, url string) error
	UploadedBefore(camera string, t time.Time) []string
	DropLocal(id string) error
	Changes() <-chan struct{}
}

var _ Catalog = (*store.Catalog)(nil)

// Config is the uploader's.
type Config struct {
	// Targets maps each camera that uploads to its target.
	Targets map[string]Target
	Catalog Catalog
	Events  *events.Bus // may be nil
	Log     *slog.Logger
	// Backoff is the wait after a failed upload before the camera's next
	// try. Default 5 s doubling to 5 min.
	Backoff defs.Backoff
	// Now is the clock of delete_local_after (default time.Now).
	Now func() time.Time

	// wrap, in tests, wraps the file being sent (to throttle it).
	wrap func(io.Reader) io.Reader
}

// Upload states in Status.
const (
	StateIdle      = "idle"      // nothing pending
	StateUploading = "uploading" // a file is being sent
	StateRetrying  = "retrying"  // the last try failed; waiting to try again
)

// Status is one camera's upload status.
type Status struct {
	State     string
	Pending   int // finished recordings not yet uploaded
	LastError string
	Uploaded  uint64 // files uploaded since start
	Bytes     uint64 // their bytes
	Failures  uint64 // failed tries since start
}

// camera is one camera's target, client and status.
type camera struct {
	name    string
	target  Target
	client  *minio.Client
	backoff defs.Backoff
	retryAt time.Time // zero: no wait

	mu     sync.Mutex
	status Status
}

// Uploader sends finished recordings to their camera's target, one at a
// time (a home uplink is the bottleneck, not parallelism).
type Uploader struct {
	cfg     Config
	cameras []*camera
	byName  map[string]*camera
}

// New checks the targets and makes their clients; it does not connect.
func New(cfg Config) (*Uploader, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Backoff.First == 0 {
		cfg.Backoff = defs.Backoff{First: 5 * time.Second, Max: 5 * time.Minute}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	u := &Uploader{cfg: cfg, byName: map[string]*camera{}}
	for name, t := range cfg.Targets {
		c, err := newClient(t)
		if err != nil {
			return nil, fmt.Errorf("camera %s: upload: %w", name, err)
		}
		if t.PartSize == 0 {
			t.PartSize = DefaultPartSize
		}
		cam := &camera{name: name, target: t, client: c, backoff: cfg.Backoff, status: Status{State: StateIdle}}
		u.cameras = append(u.cameras, cam)
		u.byName[name] = cam
	}
	slices.SortFunc(u.cameras, func(a, b *camera) int { return strings.Compare(a.name, b.name) })
	return u, nil
}

// newClient makes the S3 client of t.
func newClient(t Target) (*minio.Client, error) {
	ep, err := url.Parse(t.Endpoint)
	if err != nil || ep.Host == "" || (ep.Scheme != "http" && ep.Scheme != "https") {
		return nil, fmt.Errorf("endpoint %q: want http://host:port or https://host", t.Endpoint)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if t.CAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: t.CAs, MinVersion: tls.VersionTLS12}
	}
	region := t.Region
	if region == "" {
		region = "us-east-1" // known, so that presigning needs no lookup
	}
	return minio.New(ep.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(t.AccessKey, t.SecretKey, ""),
		Secure:    ep.Scheme == "https",
		Region:    region,
		Transport: tr,
		// One request per try: camrec's backoff (Config.Backoff) is the
		// one retry policy. minio-go's own (10 requests over 5-6 s) kept
		// a failing try "uploading", its error unknown, for that long.
		MaxRetries: 1,
	})
}

// logTargets says, once at start-up, where each camera's recordings go
// and how many are waiting (the keys are never logged).
func (u *Uploader) logTargets() {
	for _, c := range u.cameras {
		attrs := []any{"camera", c.name, "endpoint", safeEndpoint(c.target.Endpoint), "bucket", c.target.Bucket,
			"prefix", c.target.Prefix, "pending", u.cfg.Catalog.NotUploaded(c.name)}
		if d := c.target.DeleteLocalAfter; d > 0 {
			attrs = append(attrs, "delete_local_after", d.String())
		}
		u.cfg.Log.Info("uploads configured", attrs...)
	}
}

// safeEndpoint is an endpoint as the log shows it: scheme and host, no
// user information (the keys go in headers, never in the URL; this holds
// anyway).
func safeEndpoint(endpoint string) string {
	ep, err := url.Parse(endpoint)
	if err != nil {
		return "(invalid url)"
	}
	return ep.Scheme + "://" + ep.Host
}

// Any reports whether some camera uploads.
func (u *Uploader) Any() bool { return u != nil && len(u.cameras) > 0 }

// Origins returns the targets' origins (scheme://host[:port]), sorted,
// once each: where presigned URLs point.
func (u *Uploader) Origins() []string {
	var out []string
	for _, c := range u.cameras {
		if ep, err := url.Parse(c.target.Endpoint); err == nil && !slices.Contains(out, ep.Scheme+"://"+ep.Host) {
			out = append(out, ep.Scheme+"://"+ep.Host)
		}
	}
	slices.Sort(out)
	return out
}

// Enabled reports whether camera uploads.
func (u *Uploader) Enabled(camera string) bool { return u != nil && u.byName[camera] != nil }

// Status returns camera's upload status; false when it does not upload.
func (u *Uploader) Status(camera string) (Status, bool) {
	if u == nil {
		return Status{}, false
	}
	c := u.byName[camera]
	if c == nil {
		return Status{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Pending = u.cfg.Catalog.NotUploaded(camera)
	return s, true
}

// Presign returns a short-lived URL (PresignExpiry) of the uploaded file
// of recording id of camera; download asks the browser to save it.
func (u *Uploader) Presign(ctx context.Context, camera, id string, download bool) (*url.URL, error) {
	c := u.byName[camera]
	if c == nil {
		return nil, fmt.Errorf("recording %s is only in the bucket and camera %s does not upload now: %w", id, camera, defs.ErrNotFound)
	}
	params := url.Values{}
	params.Set("response-content-type", contentType(id))
	if download {
		params.Set("response-content-disposition", mime.FormatMediaType("attachment", map[string]string{"filename": id}))
	}
	p, err := c.client.PresignedGetObject(ctx, c.target.Bucket, c.key(id), PresignExpiry, params)
	if err != nil {
		return nil, fmt.Errorf("presign %s: %w", id, c.redact(err))
	}
	return p, nil
}

// Run uploads what is pending and what the catalogue reports finished
// until ctx is done. An upload cut by ctx is left pending: it starts again
// after a restart.
func (u *Uploader) Run(ctx context.Context) error {
	if len(u.cameras) == 0 {
		return nil
	}
	u.logTargets()
	changes := u.cfg.Catalog.Changes()
	for {
		wait := u.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-changes:
		case <-t.C:
		}
		t.Stop()
	}
}

// idleCheck is how often the uploader looks again with nothing to wake it
// (delete_local_after deadlines are checked then too, at the latest).
const idleCheck = time.Minute

// pass uploads every camera's pending files (skipping a camera still
// waiting after a failure) and deletes expired local copies; it returns
// how long to wait before the next pass.
func (u *Uploader) pass(ctx context.Context) time.Duration {
	wait := idleCheck
	for _, c := range u.cameras {
		now := u.cfg.Now()
		if !c.retryAt.IsZero() && now.Before(c.retryAt) {
			wait = min(wait, c.retryAt.Sub(now))
			continue
		}
		c.retryAt = time.Time{}
		for _, p := range u.cfg.Catalog.PendingUploads(c.name) {
			if ctx.Err() != nil {
				return 0
			}
			if err := u.upload(ctx, c, p); err != nil {
				if ctx.Err() != nil {
					return 0 // shutting down: it stays pending
				}
				if errors.Is(err, defs.ErrConflict) || errors.Is(err, defs.ErrNotFound) {
					continue // changed or deleted meanwhile: looked at again
				}
				d := c.backoff.Next()
				c.retryAt = u.cfg.Now().Add(d)
				wait = min(wait, d)
				u.failed(c, p, err, d)
				break
			}
			c.backoff.Reset()
		}
		c.setState(StateIdle, "")
		if after := c.target.DeleteLocalAfter; after > 0 {
			u.expire(c, u.cfg.Now())
			wait = min(wait, after)
		}
	}
	return wait
}

// expire deletes the local copies of c's recordings uploaded more than
// DeleteLocalAfter before now.
func (u *Uploader) expire(c *camera, now time.Time) {
	for _, id := range u.cfg.Catalog.UploadedBefore(c.name, now.Add(-c.target.DeleteLocalAfter)) {
		if err := u.cfg.Catalog.DropLocal(id); err != nil {
			u.cfg.Log.Warn("delete local copy after upload", "camera", c.name, "recording_id", id, "error", err.Error())
		}
	}
}

func (u *Uploader) failed(c *camera, p store.Pending, err error, retry time.Duration) {
	c.mu.Lock()
	c.status.State, c.status.LastError = StateRetrying, err.Error()
	c.status.Failures++
	c.mu.Unlock()
	u.cfg.Log.Warn("upload failed", "camera", c.name, "recording_id", p.ID, "retry_in_s", retry.Seconds(), "error", err.Error())
	u.cfg.Events.Publish(events.Event{Type: events.UploadFailed, Camera: c.name, RecordingID: p.ID, Path: p.Path, Error: err.Error()})
}

func (c *camera) setState(state, lastErr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status.State == StateRetrying && state == StateIdle && !c.retryAt.IsZero() {
		return // keep showing the failure until the retry
	}
	c.status.State = state
	if state == StateIdle && c.retryAt.IsZero() {
		c.status.LastError = lastErr
	}
}

// key is the object key of recording id.
func (c *camera) key(id string) string { return c.target.Prefix + c.name + "/" + id }

// remoteURL is the object's URL, without credentials.
func (c *camera) remoteURL(key string) string {
	return strings.TrimRight(c.target.Endpoint, "/") + "/" + url.PathEscape(c.target.Bucket) + "/" + (&url.URL{Path: key}).EscapedPath()
}

// upload sends p's file and sidecar, verifies the file's object and marks
// the recording uploaded.
func (u *Uploader) upload(ctx context.Context, c *camera, p store.Pending) error {
	c.setState(StateUploading, "")
	f, err := os.Open(p.Path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("upload %s: %w", p.ID, defs.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", p.ID, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("upload %s: %w", p.ID, err)
	}
	size := fi.Size()
	etag, err := localETag(f, size, int64(c.target.PartSize))
	if err != nil {
		return fmt.Errorf("upload %s: read: %w", p.ID, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("upload %s: %w", p.ID, err)
	}
	var body io.Reader = f
	if u.cfg.wrap != nil {
		body = u.cfg.wrap(f)
	}
	key := c.key(p.ID)
	t0 := time.Now()
	if _, err := c.client.PutObject(ctx, c.target.Bucket, key, body, size, minio.PutObjectOptions{
		ContentType: contentType(p.ID), PartSize: c.target.PartSize,
	}); err != nil {
		return fmt.Errorf("upload %s to %s: %w", p.ID, c.target.Bucket, c.redact(err))
	}
	st, err := c.client.StatObject(ctx, c.target.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return fmt.Errorf("verify %s: %w", p.ID, c.redact(err))
	}
	if got := strings.Trim(st.ETag, `"`); st.Size != size || !strings.EqualFold(got, etag) {
		return fmt.Errorf("verify %s: the bucket holds %d bytes with ETag %s, the file has %d bytes with ETag %s", p.ID, st.Size, got, size, etag)
	}
	side, err := os.ReadFile(p.Sidecar)
	if err == nil {
		_, err = c.client.PutObject(ctx, c.target.Bucket, key+".json", strings.NewReader(string(side)), int64(len(side)),
			minio.PutObjectOptions{ContentType: "application/json"})
		err = c.redact(err)
	}
	if err != nil {
		return fmt.Errorf("upload sidecar of %s: %w", p.ID, err)
	}
	if err := u.cfg.Catalog.MarkUploaded(p.ID, size, u.cfg.Now(), c.remoteURL(key)); err != nil {
		return fmt.Errorf("upload %s: %w", p.ID, err)
	}
	took := time.Since(t0)
	c.mu.Lock()
	c.status.Uploaded++
	c.status.Bytes += uint64(size)
	c.status.LastError = ""
	c.mu.Unlock()
	u.cfg.Log.Info("recording uploaded", "camera", c.name, "recording_id", p.ID, "bytes", size,
		"took_s", defs.RoundTo(took.Seconds(), 3), "remote_url", c.remoteURL(key))
	u.cfg.Events.Publish(events.Event{Type: events.RecordingUploaded, Camera: c.name, RecordingID: p.ID, Path: p.Path, Bytes: size})
	return nil
}

// redact removes the credentials from an error's text, should the
// client's error quote them (it quotes request URLs, which camrec signs
// in headers, not in the URL; this is the second lock on the door).
func (c *camera) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	out := msg
	for _, s := range []string{c.target.SecretKey, c.target.AccessKey} {
		if len(s) >= 4 {
			out = strings.ReplaceAll(out, s, "(redacted)")
		}
	}
	if out == msg {
		return err
	}
	return errors.New(out)
}

// localETag is the ETag S3 gives the file once uploaded as minio-go sends
// it: the MD5 of the content for a single PUT (size up to partSize), else
// the MD5 of the parts' MD5s followed by -<parts>.
func localETag(r io.Reader, size, partSize int64) (string, error) {
	if size <= partSize {
		h := md5.New()
		if _, err := io.Copy(h, r); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	var sums []byte
	parts := 0
	for left := size; left > 0; left -= partSize {
		h := md5.New()
		if _, err := io.CopyN(h, r, min(left, partSize)); err != nil {
			return "", err
		}
		sums = h.Sum(sums)
		parts++
	}
	all := md5.Sum(sums)
	return fmt.Sprintf("%s-%d", hex.EncodeToString(all[:]), parts), nil
}

// contentType is the MIME type of a recording by its extension.
func contentType(id string) string {
	switch filepath.Ext(id) {
	case ".mp4":
		return "video/mp4"
	case ".mkv":
		return "video/x-matroska"
	case ".avi":
		return "video/x-msvideo"
	}
	if t := mime.TypeByExtension(filepath.Ext(id)); t != "" {
		return t
	}
	return "application/octet-stream"
}
