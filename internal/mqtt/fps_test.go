package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline"
)

func fps(v float64) *float64 { return &v }

// TestWatchDue: between refreshes, the attributes go out at once when the
// camera's rate is first measured; after that when the rate moved by 10 %
// or more (or the preview clients changed), and then at most once per
// 5 s; the jitter of a one-second measurement and the free disk wait for
// the periodic refresh. Times are given, not waited for.
func TestWatchDue(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 6, 31, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	base := attributes{State: "streaming", FPS: fps(30), FPSTarget: 30, DiskFreeBytes: 1e9}
	with := func(f func(*attributes)) attributes { a := base; f(&a); return a }
	for _, tc := range []struct {
		name      string
		prev, cur attributes
		now       float64 // seconds after the last publish
		want      bool
	}{
		{"first measurement, at once", with(func(a *attributes) { a.FPS = nil }), base, 0.1, true},
		{"still not measured", with(func(a *attributes) { a.FPS = nil }), with(func(a *attributes) { a.FPS = nil; a.DiskFreeBytes = 5 }), 60, false},
		{"jitter 30 -> 29", base, with(func(a *attributes) { a.FPS = fps(29) }), 60, false},
		{"jitter 30 -> 31", base, with(func(a *attributes) { a.FPS = fps(31) }), 60, false},
		{"low light 30 -> 25", base, with(func(a *attributes) { a.FPS = fps(25) }), 5, true},
		{"30 -> 25 too soon", base, with(func(a *attributes) { a.FPS = fps(25) }), 4.9, false},
		{"stalled 30 -> 0", base, with(func(a *attributes) { a.FPS = fps(0) }), 5, true},
		{"back 0 -> 30", with(func(a *attributes) { a.FPS = fps(0) }), base, 5, true},
		{"a viewer more", base, with(func(a *attributes) { a.Clients = 1 }), 5, true},
		{"a viewer more, too soon", base, with(func(a *attributes) { a.Clients = 1 }), 1, false},
		{"disk free alone", base, with(func(a *attributes) { a.DiskFreeBytes = 2e9 }), 60, false},
		{"nothing", base, base, 60, false},
	} {
		if got := watchDue(tc.prev, tc.cur, t0, at(tc.now)); got != tc.want {
			t.Errorf("%s: due %v, want %v", tc.name, got, tc.want)
		}
	}

	// A rate that swings between 30 and 20 every second for a minute
	// makes at most one message per 5 s.
	prev, last, sent := base, t0, 0
	for i := 1; i <= 60; i++ {
		cur := base
		if i%2 == 1 {
			cur.FPS = fps(20)
		}
		if now := at(float64(i)); watchDue(prev, cur, last, now) {
			prev, last = cur, now
			sent++
		}
	}
	if sent != 12 {
		t.Errorf("%d messages in a minute of a swinging rate, want 12 (one per 5 s)", sent)
	}
}

// startMosquitto runs Debian's mosquitto on a loopback port until the test
// ends and returns its URL. It fails when CI is set and mosquitto is
// missing, and skips otherwise.
func startMosquitto(t *testing.T) string {
	t.Helper()
	bin := "/usr/sbin/mosquitto" // Debian's place, outside some users' PATH
	if _, err := os.Stat(bin); err != nil {
		bin = testutil.RequireTool(t, "mosquitto")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)
	if os.Geteuid() == 0 {
		conf += "user root\n" // as root, mosquitto would switch to its own user
	}
	if err := os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &testutil.SyncBuffer{}
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "mosquitto.conf"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	testutil.Eventually(t, 20*time.Second, "mosquitto listening", func() bool {
		select {
		case <-done:
			t.Fatalf("mosquitto exited: %s", out.String())
		default:
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return fmt.Sprintf("mqtt://127.0.0.1:%d", port)
}

// rateSource is a test camera whose rate the test sets: no frame until the
// first rate arrives on rates, then the built-in test pattern at that rate.
type rateSource struct{ rates chan float64 }

func (s *rateSource) Run(ctx context.Context, sink pipeline.Sink) error {
	var wg sync.WaitGroup
	var stops []context.CancelFunc // the last one stops the current rate
	defer func() {
		for _, stop := range stops {
			stop()
		}
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-s.rates:
			if len(stops) > 0 {
				stops[len(stops)-1]()
				wg.Wait()
			}
			src, err := pipeline.NewPatternSource(pipeline.SourceOptions{Width: 160, Height: 120, FPS: r})
			if err != nil {
				return err
			}
			pctx, stop := context.WithCancel(ctx)
			stops = append(stops, stop)
			wg.Go(func() { _ = src.Run(pctx, sink) })
		}
	}
}

// attrWatcher keeps the attributes messages of one topic.
type attrWatcher struct {
	mu  sync.Mutex
	got []map[string]json.RawMessage
}

func (w *attrWatcher) all() []map[string]json.RawMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]json.RawMessage(nil), w.got...)
}

// measured is the fps of the last message, and whether it has one.
func (w *attrWatcher) measured() (float64, bool) {
	all := w.all()
	if len(all) == 0 {
		return 0, false
	}
	var v *float64
	if json.Unmarshal(all[len(all)-1]["fps"], &v) != nil || v == nil {
		return 0, false
	}
	return *v, true
}

// TestFrameRateSensor: through a real Mosquitto, the frame rate Home
// Assistant reads is null (its sensor: unknown) while the camera has not
// been measured, not 0; the measured rate follows within seconds once the
// camera delivers frames, and again when its rate drops (low light), with
// the periodic refresh an hour away.
func TestFrameRateSensor(t *testing.T) {
	url := startMosquitto(t)
	log := testutil.Logger(t)
	src := &rateSource{rates: make(chan float64, 1)}
	cam := pipeline.NewCamera(pipeline.CameraConfig{Name: "cam0", Device: "test:", FPS: 15}, src, log)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { _ = cam.Run(ctx) })

	w := &attrWatcher{}
	client := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("test-watcher").SetAutoReconnect(false))
	if tok := client.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { client.Disconnect(0) })
	tok := client.Subscribe("camrec/cam0/attributes", 1, func(_ paho.Client, m paho.Message) {
		var a map[string]json.RawMessage
		if json.Unmarshal(m.Payload(), &a) == nil {
			w.mu.Lock()
			w.got = append(w.got, a)
			w.mu.Unlock()
		}
	})
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	bus := events.NewBus(16)
	br := New(Config{URL: url, ClientID: "camrec-test", TopicPrefix: "camrec", DiscoveryPrefix: "homeassistant",
		Refresh: time.Hour}, []Camera{{View: cam}}, bus, log)
	wg.Go(func() { _ = br.Run(ctx) })

	testutil.Eventually(t, 30*time.Second, "the first attributes", func() bool { return len(w.all()) > 0 })
	first := w.all()[0]
	if v, ok := first["fps"]; !ok || string(v) != "null" {
		t.Fatalf("before any frame the attributes say fps %s (present: %v), want null", v, ok)
	}
	if string(first["state"]) != `"starting"` {
		t.Errorf("first attributes: state %s, want starting", first["state"])
	}

	src.rates <- 15
	// Wide bounds: a busy machine's pattern skips late frames, and a one-
	// second window jitters; 15 and 5 fps stay apart.
	testutil.Eventually(t, 60*time.Second, "the measured rate, 15 fps", func() bool {
		v, ok := w.measured()
		return ok && v >= 10 && v <= 20
	})
	src.rates <- 5
	testutil.Eventually(t, 60*time.Second, "the lower rate, 5 fps", func() bool {
		v, ok := w.measured()
		return ok && v >= 2.5 && v <= 7.5
	})
	all := w.all()
	t.Logf("%d attributes messages", len(all))
	for i, a := range all {
		if _, ok := a["fps"]; !ok {
			t.Errorf("message %d has no fps key: %v", i, a)
		}
	}
}
