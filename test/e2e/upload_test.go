package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"

	"github.com/camrec/camrec/internal/testutil"
)

type uploadedRecording struct {
	ID         string  `json:"id"`
	Bytes      int64   `json:"bytes"`
	UploadedAt *string `json:"uploaded_at"`
	RemoteURL  string  `json:"remote_url"`
	Local      bool    `json:"local"`
	FileURL    string  `json:"file_url"`
}

// A recording made by the real camrec is uploaded to a real S3 server
// (SeaweedFS) with its sidecar and shown uploaded; after
// delete_local_after its local file goes, it stays listed, and its file URL
// redirects to a presigned URL that serves the same bytes.
func TestUploadToS3(t *testing.T) {
	requireTool(t, "ffmpeg")
	s3 := testutil.StartS3(t)
	dir := t.TempDir()
	ak, sk := filepath.Join(dir, "ak"), filepath.Join(dir, "sk")
	for p, v := range map[string]string{ak: s3.AccessKey, sk: s3.SecretKey} {
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "camrec.yaml")
	body := "cameras:\n  - {name: cam0, device: \"test:\", size: 320x240, fps: 15}\n" +
		"upload:\n  endpoint: " + s3.Endpoint + "\n  bucket: " + s3.Bucket + "\n  prefix: e2e/\n" +
		"  access_key_file: " + ak + "\n  secret_key_file: " + sk + "\n  delete_local_after: 1s\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-config", conf)
	d.awaitStreaming(t, "cam0", cred{})
	rec := record(t, d, "cam0", 2*time.Second)

	var got uploadedRecording
	waitFor(t, 2*time.Minute, "the recording uploaded and its local copy deleted", func() bool {
		d.do(t, "GET", "/api/v1/recordings/"+rec.ID, "", &got)
		return got.UploadedAt != nil && !got.Local
	})
	key := "e2e/cam0/" + rec.ID
	if want := s3.Endpoint + "/" + s3.Bucket + "/" + key; got.RemoteURL != want {
		t.Errorf("remote_url %q, want %q", got.RemoteURL, want)
	}
	cl := s3.Client(t)
	obj := func(key string) []byte {
		o, err := cl.GetObject(context.Background(), s3.Bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		b, err := io.ReadAll(o)
		if err != nil {
			t.Fatalf("object %s: %v", key, err)
		}
		return b
	}
	video := obj(key)
	if int64(len(video)) != got.Bytes || len(video) == 0 {
		t.Fatalf("object has %d bytes, the catalogue says %d", len(video), got.Bytes)
	}
	if side := obj(key + ".json"); !bytes.Contains(side, []byte(`"state": "complete"`)) {
		t.Errorf("sidecar object: %s", side)
	}
	if _, err := os.Stat(filepath.Join(d.RecordDir, "cam0", rec.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("local file after delete_local_after: %v", err)
	}
	var cam struct {
		Upload struct {
			State    string `json:"state"`
			Uploaded uint64 `json:"uploaded"`
			Pending  int    `json:"pending"`
		} `json:"upload"`
	}
	d.do(t, "GET", "/api/v1/cameras/cam0", "", &cam)
	if cam.Upload.Uploaded != 1 || cam.Upload.Pending != 0 {
		t.Errorf("camera upload status %+v", cam.Upload)
	}

	// The file URL redirects (checked against the API contract) to a
	// presigned URL of the object.
	noFollow := &http.Client{Transport: apiClient.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(d.URL + got.FileURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || loc == "" {
		t.Fatalf("GET %s: %s, Location %q", got.FileURL, resp.Status, loc)
	}
	resp, err = http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, video) {
		t.Fatalf("presigned GET: %s, %d bytes, want the object's %d", resp.Status, len(b), len(video))
	}
	// The page may play it: its CSP lets media come from the S3 server.
	page, err := apiClient.Get(d.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "media-src 'self' "+s3.Endpoint+";") {
		t.Errorf("page CSP %q does not let media come from %s", csp, s3.Endpoint)
	}
	if log := d.Log(); strings.Contains(log, s3.SecretKey) || strings.Contains(log, s3.AccessKey) {
		t.Error("camrec logged an S3 key")
	}

	// The page plays it from the bucket (the player follows the 307; the
	// page's CSP lets it).
	ctx := newBrowser(t)
	do(t, ctx, "open the page", chromedp.Navigate(d.URL+"/"))
	item := fmt.Sprintf(`#recordings li[data-id=%q]`, rec.ID)
	poll[bool](t, ctx, "the remote-only recording in the list", `(document.querySelector('`+item+` .rec-meta')?.textContent || '').includes('in the bucket only')`, 30*time.Second)
	do(t, ctx, "click Play", chromedp.Click(chromedp.CSS(item+" .play")))
	dur := poll[float64](t, ctx, "the video's metadata from the bucket", `(() => { const v = document.querySelector('`+item+` video'); return v && v.readyState >= 1 && v.duration > 0 && isFinite(v.duration) ? v.duration : 0; })()`, 30*time.Second)
	if dur < 1 || dur > 10 {
		t.Errorf("video duration %.2f s, want about 2 s", dur)
	}
}
