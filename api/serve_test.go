package api

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServeShutdown checks that cancelling Serve's context ends open MJPEG
// streams at once and that Serve then returns nil, well before its 5 s
// shutdown deadline.
func TestServeShutdown(t *testing.T) {
	e := newEnv(t, envConfig{}) // cameras and the handler; its own server is unused here
	srv := New(Config{Cameras: []Camera{{View: e.cams["cam0"], Recorder: e.recs["cam0"]}}, Catalog: e.catalog})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := "http://" + ln.Addr().String()

	resp, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	s := openStream(t, client, url+"/stream.mjpg")
	defer s.close()
	for range 3 {
		mustNext(t, s)
	}

	start := time.Now()
	cancel()
	// The stream ends: reading runs into its end instead of blocking.
	for {
		if _, err := s.next(); err != nil {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("stream still running 20 s after shutdown began")
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return within 20 s")
	}
	t.Logf("shutdown with an open stream took %v", time.Since(start).Round(time.Millisecond))
	e.awaitClients("cam0", 0)
	if _, err := client.Get(url + "/healthz"); err == nil {
		t.Error("server still answers after Serve returned")
	}
}
