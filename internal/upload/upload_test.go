package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline/store"
)

const patience = 2 * time.Minute

// addRecording puts a finished recording of size random bytes in cat and
// returns its id and content.
func addRecording(t testing.TB, cat *store.Catalog, cam string, start time.Time, size int) (string, []byte) {
	t.Helper()
	id := cam + "-" + start.Format("20060102-150405") + ".mkv"
	path := filepath.Join(cat.Dir(), cam, id)
	data := make([]byte, size)
	rand.Read(data)
	testutil.WriteFile(t, path, string(data))
	end := start.Add(time.Minute)
	if err := cat.Put(cam, id, path, store.Sidecar{StartedAt: start, EndedAt: &end, State: store.RecStateComplete,
		Container: "mkv", Codec: "h264", DurationS: 60}, int64(size)); err != nil {
		t.Fatal(err)
	}
	return id, data
}

func target(s *testutil.S3Server) Target {
	return Target{Endpoint: s.Endpoint, Bucket: s.Bucket, Prefix: "lab/", AccessKey: s.AccessKey, SecretKey: s.SecretKey}
}

func newUploader(t *testing.T, cat *store.Catalog, tg Target, mod func(*Config)) *Uploader {
	t.Helper()
	cfg := Config{Targets: map[string]Target{"cam0": tg}, Catalog: cat, Log: testutil.Logger(t),
		Backoff: defs.Backoff{First: 50 * time.Millisecond, Max: 500 * time.Millisecond}}
	if mod != nil {
		mod(&cfg)
	}
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// run runs u until the test ends (or stop is called) and waits for it.
func run(t *testing.T, u *Uploader) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func uploaded(cat *store.Catalog, id string) bool {
	r, err := cat.Get(id)
	return err == nil && r.UploadedAt != nil
}

func object(t *testing.T, s *testutil.S3Server, key string) []byte {
	t.Helper()
	o, err := s.Client(t).GetObject(context.Background(), s.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return b
}

// A finished recording is uploaded with its sidecar, verified, marked in
// the catalogue, and its presigned URL downloads the same bytes; with
// delete_local_after, the local copy goes once that time has passed.
func TestUploadVerifiedMarkedAndPresigned(t *testing.T) {
	s := testutil.StartS3(t)
	cat := store.NewCatalog(t.TempDir(), "", testutil.Logger(t))
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	id, data := addRecording(t, cat, "cam0", start, 3<<20)
	bus := events.NewBus(16)
	_, _, sub := bus.Subscribe(0, 16)
	defer sub.Close()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	tg := target(s)
	tg.DeleteLocalAfter = time.Hour
	u := newUploader(t, cat, tg, func(c *Config) {
		c.Events = bus
		c.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	run(t, u)
	testutil.Eventually(t, patience, "the recording marked uploaded", func() bool { return uploaded(cat, id) })

	if got := object(t, s, "lab/cam0/"+id); !bytes.Equal(got, data) {
		t.Fatalf("object holds %d bytes, want the file's %d", len(got), len(data))
	}
	var side store.Sidecar
	if err := json.Unmarshal(object(t, s, "lab/cam0/"+id+".json"), &side); err != nil || side.State != store.RecStateComplete {
		t.Fatalf("sidecar object: %+v, %v", side, err)
	}
	rec, _ := cat.Get(id)
	if want := s.Endpoint + "/" + s.Bucket + "/lab/cam0/" + id; rec.RemoteURL != want {
		t.Errorf("remote_url %q, want %q", rec.RemoteURL, want)
	}
	onDisk, err := store.ReadSidecar(store.SidecarPath(filepath.Join(cat.Dir(), "cam0", id)))
	if err != nil || onDisk.UploadedAt == nil || onDisk.UploadedBytes != int64(len(data)) {
		t.Errorf("sidecar on disk: %+v, %v", onDisk, err)
	}
	if o := u.Origins(); len(o) != 1 || o[0] != s.Endpoint {
		t.Errorf("Origins() = %v, want [%s]", o, s.Endpoint)
	}
	st, _ := u.Status("cam0")
	if st.State != StateIdle || st.Uploaded != 1 || st.Bytes != uint64(len(data)) || st.Pending != 0 || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
	select {
	case e := <-sub.Events():
		if e.Type != events.RecordingUploaded || e.RecordingID != id || e.Bytes != int64(len(data)) {
			t.Errorf("event %+v", e)
		}
	default:
		t.Error("no recording_uploaded event")
	}

	// delete_local_after: not yet, then once the hour has passed.
	u.expire(u.byName["cam0"], u.cfg.Now())
	if r, _ := cat.Get(id); r.RemoteOnly {
		t.Fatal("local copy deleted before delete_local_after")
	}
	clock.Add(int64(time.Hour + time.Second))
	u.expire(u.byName["cam0"], u.cfg.Now())
	if r, _ := cat.Get(id); !r.RemoteOnly {
		t.Fatal("local copy kept after delete_local_after")
	}
	if _, err := os.Stat(filepath.Join(cat.Dir(), "cam0", id)); !os.IsNotExist(err) {
		t.Errorf("local file: %v", err)
	}

	p, err := u.Presign(context.Background(), "cam0", id, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.String(), s.SecretKey) {
		t.Fatal("presigned URL holds the secret key")
	}
	resp, err := http.Get(p.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) || resp.Header.Get("Content-Type") != "video/x-matroska" {
		t.Fatalf("presigned GET: %s, %s, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(got))
	}
}

// A file larger than the part size goes up in parts; its ETag (MD5 of the
// parts' MD5s) is verified the same way.
func TestUploadMultipart(t *testing.T) {
	s := testutil.StartS3(t)
	cat := store.NewCatalog(t.TempDir(), "", testutil.Logger(t))
	id, data := addRecording(t, cat, "cam0", time.Now().Add(-time.Hour), 11<<20+123)
	tg := target(s)
	tg.PartSize = 5 << 20
	run(t, newUploader(t, cat, tg, nil))
	testutil.Eventually(t, patience, "the multipart upload verified", func() bool { return uploaded(cat, id) })
	if got := object(t, s, "lab/cam0/"+id); !bytes.Equal(got, data) {
		t.Fatalf("object holds %d bytes, want %d", len(got), len(data))
	}
	st, _ := s.Client(t).StatObject(context.Background(), s.Bucket, "lab/cam0/"+id, minio.StatObjectOptions{})
	if !strings.HasSuffix(st.ETag, "-3") {
		t.Errorf("ETag %q: want a 3-part ETag", st.ETag)
	}
}

// Wrong credentials: a clear error in the status, the secret not in it,
// the file kept (and held from retention), retried with backoff.
func TestUploadWrongCredentials(t *testing.T) {
	s := testutil.StartS3(t)
	cat := store.NewCatalog(t.TempDir(), "", testutil.Logger(t))
	id, _ := addRecording(t, cat, "cam0", time.Now().Add(-48*time.Hour), 1<<20)
	tg := target(s)
	tg.SecretKey = "not-the-secret-key-at-all"
	u := newUploader(t, cat, tg, nil)
	run(t, u)
	var st Status
	testutil.Eventually(t, patience, "two failed tries", func() bool {
		st, _ = u.Status("cam0")
		return st.Failures >= 2
	})
	if st.State != StateRetrying || st.Pending != 1 || !strings.Contains(st.LastError, "signature") {
		t.Errorf("status %+v: want retrying with a signature error", st)
	}
	if strings.Contains(st.LastError, tg.SecretKey) || strings.Contains(st.LastError, s.SecretKey) {
		t.Errorf("the error shows a secret: %s", st.LastError)
	}
	pruned, err := cat.Prune("cam0", store.Retention{Keep: time.Hour, HoldForUpload: true}, time.Now())
	if err != nil || len(pruned) != 0 || uploaded(cat, id) {
		t.Errorf("pruned %v, %v: the pending file must stay", pruned, err)
	}
	if _, err := os.Stat(filepath.Join(cat.Dir(), "cam0", id)); err != nil {
		t.Errorf("local file: %v", err)
	}
}

// throttled sends at most rate bytes a second and signals half once half
// of size went by.
type throttled struct {
	r          io.Reader
	sent, half int64
	halfway    chan struct{}
	once       sync.Once
}

func (t *throttled) Read(p []byte) (int, error) {
	p = p[:min(len(p), 64<<10)]
	n, err := t.r.Read(p)
	t.sent += int64(n)
	if t.sent >= t.half {
		t.once.Do(func() { close(t.halfway) })
	}
	time.Sleep(20 * time.Millisecond) // ~3 MB/s: the server can die mid-file
	return n, err
}

// The server dies mid-upload: the try fails, nothing is marked, and once
// the server is back the file is sent again, complete.
func TestUploadServerGoneMidUpload(t *testing.T) {
	s := testutil.StartS3(t)
	cat := store.NewCatalog(t.TempDir(), "", testutil.Logger(t))
	id, data := addRecording(t, cat, "cam0", time.Now().Add(-time.Hour), 6<<20)
	halfway := make(chan struct{})
	var throttle atomic.Bool
	throttle.Store(true)
	u := newUploader(t, cat, target(s), func(c *Config) {
		c.wrap = func(r io.Reader) io.Reader {
			if !throttle.Load() {
				return r
			}
			return &throttled{r: r, half: int64(len(data) / 2), halfway: halfway}
		}
	})
	run(t, u)
	select {
	case <-halfway:
	case <-time.After(patience):
		t.Fatal("the upload never got halfway")
	}
	s.Kill()
	throttle.Store(false)
	testutil.Eventually(t, patience, "the failed try in the status", func() bool {
		st, _ := u.Status("cam0")
		return st.Failures >= 1 && st.LastError != ""
	})
	if uploaded(cat, id) {
		t.Fatal("marked uploaded though the server died")
	}
	s.Start()
	testutil.Eventually(t, patience, "the upload after the server came back", func() bool { return uploaded(cat, id) })
	if got := object(t, s, "lab/cam0/"+id); !bytes.Equal(got, data) {
		t.Fatalf("object holds %d bytes, want %d", len(got), len(data))
	}
	if st, _ := u.Status("cam0"); st.State != StateIdle || st.LastError != "" {
		t.Errorf("status after recovery %+v", st)
	}
}

// Shutdown mid-upload leaves the recording pending; a new camrec (a new
// catalogue scanned from disk, a new uploader) uploads it and the others
// left pending.
func TestUploadResumesAfterRestart(t *testing.T) {
	s := testutil.StartS3(t)
	dir := t.TempDir()
	cat := store.NewCatalog(dir, "", testutil.Logger(t))
	id1, data1 := addRecording(t, cat, "cam0", time.Now().Add(-2*time.Hour), 4<<20)
	id2, data2 := addRecording(t, cat, "cam0", time.Now().Add(-time.Hour), 1<<20)
	halfway := make(chan struct{})
	u := newUploader(t, cat, target(s), func(c *Config) {
		c.wrap = func(r io.Reader) io.Reader { return &throttled{r: r, half: int64(len(data1) / 2), halfway: halfway} }
	})
	stop := run(t, u)
	<-halfway
	stop() // shutdown mid-upload: Run returns once the upload is cut
	if uploaded(cat, id1) || uploaded(cat, id2) {
		t.Fatal("marked uploaded though cut by the shutdown")
	}

	cat2 := store.NewCatalog(dir, "", testutil.Logger(t))
	if err := cat2.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(cat2.PendingUploads("cam0")); n != 2 {
		t.Fatalf("%d pending after the restart, want 2", n)
	}
	run(t, newUploader(t, cat2, target(s), nil))
	testutil.Eventually(t, patience, "both uploads after the restart", func() bool { return uploaded(cat2, id1) && uploaded(cat2, id2) })
	if !bytes.Equal(object(t, s, "lab/cam0/"+id1), data1) || !bytes.Equal(object(t, s, "lab/cam0/"+id2), data2) {
		t.Fatal("objects differ from the files")
	}
}
