package api

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// TestMain silences gin's debug output and checks, after all tests, that
// every goroutine the tests started (servers, streams, cameras) has ended.
func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	base := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if err := awaitGoroutines(base, 5*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// awaitGoroutines waits until no more than base goroutines run.
func awaitGoroutines(base int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("goroutine leak: %d running, %d at start:\n%s", n, base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
