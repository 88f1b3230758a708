package upload

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline/store"
)

// failingS3 is an S3 endpoint that is down for maintenance: every request
// gets 503 with S3's error body. It counts the requests.
type failingS3 struct {
	mu   sync.Mutex
	reqs []string
}

func (s *failingS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>ServiceUnavailable</Code><Message>The bucket is down for maintenance</Message><Resource>` + r.URL.Path + `</Resource><RequestId>1</RequestId></Error>`))
}

func (s *failingS3) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// TestUploadFailedTryIsOneRequest: a try against a server that fails
// (503) is one request, not minio-go's ten over 5-6 s during which the
// status read "uploading" with no error; right after it the status is
// retrying with the server's words, until camrec's own backoff tries
// again.
func TestUploadFailedTryIsOneRequest(t *testing.T) {
	s3 := &failingS3{}
	srv := httptest.NewServer(s3)
	defer srv.Close()
	cat := store.NewCatalog(t.TempDir(), "", testutil.Logger(t))
	id, _ := addRecording(t, cat, "cam0", time.Now().Add(-time.Hour), 4096)
	tg := Target{Endpoint: srv.URL, Bucket: "camrec", Prefix: "lab/", AccessKey: "AKIDEXAMPLE", SecretKey: "wJalrXUtnFEMI-secret-key"}
	u := newUploader(t, cat, tg, func(c *Config) {
		c.Backoff = defs.Backoff{First: time.Hour, Max: time.Hour} // one try in this test
	})
	run(t, u)
	var st Status
	testutil.Eventually(t, patience, "the failed try in the status", func() bool {
		st, _ = u.Status("cam0")
		return st.Failures == 1
	})
	if st.State != StateRetrying || !strings.Contains(st.LastError, "The bucket is down for maintenance") || st.Pending != 1 {
		t.Errorf("status after the failed try %+v: want retrying with the server's message", st)
	}
	if strings.Contains(st.LastError, tg.SecretKey) {
		t.Errorf("the error shows the secret key: %s", st.LastError)
	}
	if got, want := s3.requests(), []string{"PUT /camrec/lab/cam0/" + id}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the try sent %d requests %v, want one: %v", len(got), got, want)
	}
}

// TestUploadStartLogLine: at start-up camrec says where each camera's
// recordings go and how many wait, without the keys (as the webhook
// does).
func TestUploadStartLogLine(t *testing.T) {
	cat := store.NewCatalog(t.TempDir(), "", testutil.Logger(t))
	addRecording(t, cat, "cam0", time.Now().Add(-time.Hour), 1024)
	addRecording(t, cat, "cam0", time.Now().Add(-2*time.Hour), 1024)
	logBuf := &testutil.SyncBuffer{}
	tg := Target{Endpoint: "http://127.0.0.1:9", Bucket: "camrec", Prefix: "home/", AccessKey: "AKIDEXAMPLE",
		SecretKey: "wJalrXUtnFEMI-secret-key", DeleteLocalAfter: 72 * time.Hour}
	u := newUploader(t, cat, tg, func(c *Config) {
		c.Log = slogTo(logBuf)
		c.Backoff = defs.Backoff{First: time.Hour, Max: time.Hour}
	})
	run(t, u)
	const want = `msg="uploads configured" camera=cam0 endpoint=http://127.0.0.1:9 bucket=camrec prefix=home/ pending=2 delete_local_after=72h0m0s`
	testutil.Eventually(t, patience, "the start-up line", func() bool { return strings.Contains(logBuf.String(), want) })
	if n := strings.Count(logBuf.String(), "uploads configured"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logBuf)
	}
	for _, secret := range []string{tg.AccessKey, tg.SecretKey} {
		if strings.Contains(logBuf.String(), secret) {
			t.Errorf("the log shows a key: %s", logBuf)
		}
	}
}

func slogTo(b *testutil.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
