package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/v4l2"
)

// fakeControls is a device's controls as a driver keeps them: it clamps
// integers like the V4L2 control framework does (which is why camrec
// validates first) and records every set.
type fakeControls struct {
	mu       sync.Mutex
	controls []Control
	setErr   map[uint32]error
	sets     []string // "key=value"
	listErr  error
}

func newFakeControls() *fakeControls {
	return &fakeControls{controls: []Control{
		{ID: 0x980900, Name: "Brightness", Type: v4l2.TypeInteger, Min: 0, Max: 255, Step: 1, Default: 128, Value: 128, Flags: []string{v4l2.FlagSlider}},
		{ID: 0x980901, Name: "Contrast", Type: v4l2.TypeInteger, Min: 0, Max: 200, Step: 10, Default: 100, Value: 100, Flags: []string{}},
		{ID: 0x98090c, Name: "White Balance, Automatic", Type: v4l2.TypeBoolean, Min: 0, Max: 1, Step: 1, Default: 1, Value: 1, Flags: []string{}},
		{ID: 0x9a0901, Name: "Auto Exposure", Type: v4l2.TypeMenu, Min: 0, Max: 3, Step: 1, Default: 3, Value: 3, Flags: []string{},
			Menu: []v4l2.MenuEntry{{Index: 1, Name: "Manual Mode"}, {Index: 3, Name: "Aperture Priority Mode"}}},
		{ID: 0x9a0902, Name: "Exposure Time, Absolute", Type: v4l2.TypeInteger, Min: 3, Max: 2047, Step: 1, Default: 250, Value: 250, Flags: []string{v4l2.FlagInactive}},
		{ID: 0xf0f041, Name: "Disconnect", Type: v4l2.TypeButton, Flags: []string{v4l2.FlagWrite}},
		{ID: 0xf0f010, Name: "Read Only Integer 32 Bits", Type: v4l2.TypeInteger, Min: 0, Max: 10, Step: 1, Flags: []string{v4l2.FlagReadOnly}},
		{ID: 0xf0f011, Name: "Bitmask", Type: v4l2.TypeBitmask, Max: 0x8000250f, Flags: []string{}},
		{ID: 0xf0f012, Name: "String", Type: v4l2.TypeString, Min: 2, Max: 4, Step: 1, Flags: []string{}},
	}}
}

func (f *fakeControls) Controls() ([]Control, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	out := slices.Clone(f.controls)
	for i := range out {
		out[i].Key = v4l2.ControlKey(out[i].Name)
	}
	return out, nil
}

func (f *fakeControls) Control(id uint32) (Control, error) {
	list, err := f.Controls()
	if err != nil {
		return Control{}, err
	}
	for _, c := range list {
		if c.ID == id {
			return c, nil
		}
	}
	return Control{}, syscall.EINVAL
}

func (f *fakeControls) SetControl(id uint32, value int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.setErr[id]; err != nil {
		return err
	}
	for i := range f.controls {
		c := &f.controls[i]
		if c.ID == id {
			f.sets = append(f.sets, fmt.Sprintf("%s=%d", v4l2.ControlKey(c.Name), value))
			if c.Type != v4l2.TypeButton {
				c.Value = min(max(value, c.Min), c.Max)
			}
			return nil
		}
	}
	return syscall.EINVAL
}

func (f *fakeControls) takeSets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sets
	f.sets = nil
	return s
}

// captureLoop stands in for the capture goroutine: it serves requests
// every few milliseconds until the test ends.
func captureLoop(t *testing.T, c *Controls, dev controlDevice) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				c.serve(dev)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func TestValidateControl(t *testing.T) {
	byKey := map[string]Control{}
	list, _ := newFakeControls().Controls()
	for _, c := range list {
		byKey[c.Key] = c
	}
	cases := []struct {
		key     string
		value   int64
		wantErr string // "" = valid
	}{
		{"brightness", 0, ""},
		{"brightness", 255, ""},
		{"brightness", 256, "invalid value for brightness: 256 is outside 0..255"},
		{"brightness", -1, "invalid value for brightness: -1 is outside 0..255"},
		{"contrast", 110, ""},
		{"contrast", 115, "invalid value for contrast: 115 is not 0 plus a multiple of 10"},
		{"white_balance_automatic", 1, ""},
		{"white_balance_automatic", 2, "invalid value for white_balance_automatic: 2 is not a boolean (0 or 1)"},
		{"auto_exposure", 1, ""},
		{"auto_exposure", 2, "invalid value for auto_exposure: 2 is not one of the menu's entries (1, 3)"},
		{"auto_exposure", 4, "invalid value for auto_exposure: 4 is not one of the menu's entries (1, 3)"},
		{"exposure_time_absolute", 100, ""}, // inactive: settable, takes effect later
		{"disconnect", 1, ""},
		{"read_only_integer_32_bits", 1, "invalid value for read_only_integer_32_bits: the control is read-only"},
		{"bitmask", 0x8000000f, ""},
		{"bitmask", 0x10, "invalid value for bitmask: 0x10 has bits outside the mask 0x8000250f"},
		{"string", 3, "invalid value for string: camrec cannot set controls of type string"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s=%d", tc.key, tc.value), func(t *testing.T) {
			err := validateControl(byKey[tc.key], tc.value)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err %v, want valid", err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr || !errors.Is(err, defs.ErrInvalid) {
				t.Fatalf("err %v, want %q wrapping defs.ErrInvalid", err, tc.wantErr)
			}
		})
	}
}

func TestControlsListAndSet(t *testing.T) {
	dev := newFakeControls()
	dev.setErr = map[uint32]error{0x980901: syscall.EBUSY}
	c, err := NewControls("cam0", nil, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.List(ctx); !errors.Is(err, defs.ErrUnavailable) || !strings.Contains(err.Error(), "camera not connected") {
		t.Fatalf("List before Opened: %v, want camera not connected (defs.ErrUnavailable)", err)
	}
	c.opened(dev)
	captureLoop(t, c, dev)

	list, err := c.List(ctx)
	if err != nil || len(list) != 9 || list[0].Key != "brightness" || list[0].Max != 255 {
		t.Fatalf("List: %d controls, first %+v, err %v", len(list), list[0], err)
	}
	cases := []struct {
		target    string
		value     int64
		wantValue int64
		wantErr   error
		wantSet   string
	}{
		{"brightness", 200, 200, nil, "brightness=200"},
		{"Brightness", 10, 10, nil, "brightness=10"},
		{"9963776", 11, 11, nil, "brightness=11"},
		{"0x980900", 12, 12, nil, "brightness=12"},
		{"white balance, automatic", 0, 0, nil, "white_balance_automatic=0"},
		{"auto_exposure", 1, 1, nil, "auto_exposure=1"},
		{"disconnect", 1, 0, nil, "disconnect=1"},
		{"brightness", 300, 0, defs.ErrInvalid, ""},
		{"auto_exposure", 2, 0, defs.ErrInvalid, ""},
		{"zoom", 1, 0, defs.ErrNotFound, ""},
		{"0x123", 1, 0, defs.ErrNotFound, ""},
		{"contrast", 100, 0, defs.ErrConflict, ""}, // the driver says EBUSY
	}
	for _, tc := range cases {
		got, err := c.Set(ctx, tc.target, tc.value)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Set(%q, %d): %v, want %v", tc.target, tc.value, err, tc.wantErr)
			}
		} else if err != nil || got.Value != tc.wantValue {
			t.Errorf("Set(%q, %d): value %d, %v; want %d", tc.target, tc.value, got.Value, err, tc.wantValue)
		}
		sets := dev.takeSets()
		if tc.wantSet == "" && len(sets) != 0 || tc.wantSet != "" && !slices.Equal(sets, []string{tc.wantSet}) {
			t.Errorf("Set(%q, %d) set %v on the device, want %q", tc.target, tc.value, sets, tc.wantSet)
		}
	}

	c.Closed()
	if _, err := c.Set(ctx, "brightness", 1); !errors.Is(err, defs.ErrUnavailable) {
		t.Fatalf("Set after Closed: %v, want defs.ErrUnavailable", err)
	}
}

// TestControlsClosedFailsWaitingRequests: a request queued while the
// capture goroutine is busy fails as soon as the device closes.
func TestControlsClosedFailsWaitingRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := NewControls("cam0", nil, discardLog())
		if err != nil {
			t.Fatal(err)
		}
		c.opened(newFakeControls())
		errc := make(chan error, 1)
		go func() {
			_, err := c.List(context.Background())
			errc <- err
		}()
		synctest.Wait() // the request is queued; nobody serves it
		if len(c.reqs) != 1 {
			t.Fatalf("%d requests queued, want 1", len(c.reqs))
		}
		start := time.Now()
		c.Closed()
		err = <-errc
		// On virtual time: "at once" is exactly 0, not controlReplyTimeout.
		if !errors.Is(err, defs.ErrUnavailable) || time.Since(start) != 0 {
			t.Fatalf("waiting List: %v after %v, want camera not connected at once", err, time.Since(start))
		}
	})
}

// TestControlsAppliedAtEachOpen: the settings are applied at each open in
// the driver's order, with values set through the API kept, and failures
// logged once however many reconnects.
func TestControlsAppliedAtEachOpen(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	settings := map[string]int64{
		"exposure_time_absolute": 100,
		"Auto Exposure":          1,
		"9963776":                64, // brightness by id
		"contrast":               105,
		"zoom_absolute":          3,
	}
	c, err := NewControls("cam0", settings, log)
	if err != nil {
		t.Fatal(err)
	}
	for open := 1; open <= 3; open++ {
		dev := newFakeControls() // a fresh device: values back to defaults
		c.opened(dev)
		want := []string{"brightness=64", "auto_exposure=1", "exposure_time_absolute=100"}
		if open == 3 {
			want[0] = "brightness=77" // set through the API below
		}
		if got := dev.takeSets(); !slices.Equal(got, want) {
			t.Fatalf("open %d set %v, want %v (driver order)", open, got, want)
		}
		if open == 2 {
			captureLoop(t, c, dev)
			if _, err := c.Set(t.Context(), "brightness", 77); err != nil {
				t.Fatal(err)
			}
		}
		c.Closed()
	}
	text := logs.String()
	for _, want := range []string{
		`level=WARN msg="camera control setting not applied" camera=cam0 control=contrast value=105 error="invalid value for contrast: 105 is not 0 plus a multiple of 10"`,
		`level=WARN msg="camera has no such control; setting ignored" camera=cam0 control=zoom_absolute`,
		`msg="camera controls applied" camera=cam0 applied=3 failed=2`,
	} {
		if n := strings.Count(text, want); n == 0 {
			t.Errorf("log lacks %s", want)
		}
	}
	if n := strings.Count(text, "level=WARN"); n != 2 {
		t.Errorf("%d warnings over 3 opens, want 2 (each failure once):\n%s", n, text)
	}
}

func TestNewControlsRejectsDuplicates(t *testing.T) {
	_, err := NewControls("cam0", map[string]int64{"Brightness": 1, "brightness": 2}, nil)
	if err == nil || err.Error() != `camera "cam0": control "brightness" is set twice` {
		t.Fatalf("err %v", err)
	}
	_, err = NewControls("cam0", map[string]int64{"--": 1}, nil)
	if err == nil || err.Error() != `camera "cam0": control setting "--" names no control` {
		t.Fatalf("err %v", err)
	}
}
