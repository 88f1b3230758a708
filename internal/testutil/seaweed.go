package testutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// WeedPath returns SeaweedFS's weed, the S3 server of the upload tests:
// $CAMREC_WEED, else ~/.cache/camrec/bin/weed (built by make weed,
// test/s3/build-weed.sh), else weed in PATH. When it is missing the test
// fails if CAMREC_S3_TESTS is set (make test-s3) and is skipped otherwise.
func WeedPath(tb testing.TB) string {
	tb.Helper()
	p, err := cachedTool("CAMREC_WEED", "weed")
	if err != nil {
		// Building weed takes 25-30 min on 2 cores: make test (and CI)
		// skips these tests without it; make test-s3 builds it and sets
		// CAMREC_S3_TESTS, which makes a missing weed a failure.
		if os.Getenv("CAMREC_S3_TESTS") != "" {
			tb.Fatalf("SeaweedFS weed is required (CAMREC_S3_TESTS is set; make weed builds it): %v", err)
		}
		tb.Skipf("SeaweedFS weed not built (make test-s3 builds it and runs these tests): %v", err)
	}
	return p
}

// cachedTool finds a server binary the tests build once: $env if set,
// else ~/.cache/camrec/bin/<name>, else <name> in PATH.
func cachedTool(env, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, ".cache", "camrec", "bin", name); isExec(p) {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// S3Server is a SeaweedFS server with its S3 gateway on loopback ports,
// its data in a test's temp dir, one identity and one bucket.
type S3Server struct {
	Endpoint             string // http://127.0.0.1:port
	AccessKey, SecretKey string
	Bucket               string

	tb    testing.TB
	bin   string
	dir   string
	args  []string
	cmd   *exec.Cmd
	done  chan struct{}
	Log   *SyncBuffer // what weed printed
	alive bool
}

// StartS3 starts a SeaweedFS (weed mini) for the test and waits until its
// bucket answers; the server is stopped at the end of the test.
func StartS3(tb testing.TB) *S3Server {
	tb.Helper()
	s := &S3Server{tb: tb, bin: WeedPath(tb), dir: tb.TempDir(), AccessKey: "camrectestkey", SecretKey: "camrec-test-secret-0123456789", Bucket: "recordings", Log: &SyncBuffer{}}
	conf := filepath.Join(s.dir, "s3.json")
	identities := fmt.Sprintf(`{"identities":[{"name":"camrec","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","Write","List","Tagging"]}]}`, s.AccessKey, s.SecretKey)
	if err := os.WriteFile(conf, []byte(identities), 0o600); err != nil {
		tb.Fatal(err)
	}
	data := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		tb.Fatal(err)
	}
	ports := freePorts(tb, 8)
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	s.Endpoint = "http://127.0.0.1:" + p(6)
	s.args = []string{"mini", "-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + p(0), "-master.port.grpc=" + p(1), "-master.telemetry=false",
		"-volume.port=" + p(2), "-volume.port.grpc=" + p(3),
		"-filer.port=" + p(4), "-filer.port.grpc=" + p(5),
		"-s3.port=" + p(6), "-s3.port.grpc=" + p(7), "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.config=" + conf, "-bucket=" + s.Bucket,
		"-webdav=false", "-admin.ui=false"}
	s.Start()
	tb.Cleanup(s.Kill)
	return s
}

// Start starts the server (again, with the same ports and data) and waits
// until it serves the bucket.
func (s *S3Server) Start() {
	s.tb.Helper()
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its children go with it
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start weed: %v", err)
	}
	s.cmd, s.done, s.alive = cmd, make(chan struct{}), true
	go func() { _ = cmd.Wait(); close(s.done) }()
	cl := s.Client(s.tb)
	Eventually(s.tb, 3*time.Minute, "SeaweedFS to serve bucket "+s.Bucket, func() bool {
		select {
		case <-s.done:
			s.tb.Fatalf("weed exited: %s", s.Log.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ok, err := cl.BucketExists(ctx, s.Bucket)
		return err == nil && ok
	})
}

// Kill stops the server at once (SIGKILL: a server going away), waiting
// for it to exit.
func (s *S3Server) Kill() {
	if !s.alive {
		return
	}
	s.alive = false
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// Client is an S3 client of the server with the test identity.
func (s *S3Server) Client(tb testing.TB) *minio.Client {
	tb.Helper()
	c, err := minio.New(s.Endpoint[len("http://"):], &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// freePorts returns n distinct free loopback TCP ports.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var lns []net.Listener
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}
