package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/v4l2"
)

// Control is one camera control with its range and current value.
type Control = v4l2.Control

// controlQueueDepth bounds the requests waiting for the capture goroutine.
// Serve runs every waiting request at once, so a handful covers several
// browsers moving sliders; more would only queue stale slider positions.
const controlQueueDepth = 16

// controlReplyTimeout bounds how long List and Set wait for the capture
// goroutine, which serves requests at least every 250 ms; a UVC control
// change can take a few hundred milliseconds over USB.
const controlReplyTimeout = 3 * time.Second

// errNotConnected is the answer while the device is closed.
var errNotConnected = fmt.Errorf("camera not connected: %w", defs.ErrUnavailable)

// controlDevice is what Controls needs from an open camera. *v4l2.Device
// and *v4l2.ControlNode implement it.
type controlDevice interface {
	Controls() ([]v4l2.Control, error)
	Control(id uint32) (v4l2.Control, error)
	SetControl(id uint32, value int64) error
}

var (
	_ controlDevice = (*v4l2.Device)(nil)
	_ controlDevice = (*v4l2.ControlNode)(nil)
)

// Controls lists and sets the controls of one V4L2 camera and applies its
// configured settings whenever the device is (re)opened. It is the
// camera's ControlHook: the capture goroutine, which owns the device (the
// library under it is not goroutine-safe), runs the requests of List and
// Set in Serve. List and Set may be called from any goroutine.
//
// Values set through Set (buttons excepted) join the configured settings
// for the rest of the process's life, so a camera that is unplugged and
// plugged back keeps them; the configuration file is not changed.
type Controls struct {
	camera string
	log    *slog.Logger
	reqs   chan controlRequest

	mu       sync.Mutex
	open     bool
	settings map[string]int64  // ControlKey or numeric id → value
	warned   map[string]string // setting → failure last logged
}

type controlRequest struct {
	list   bool
	target string // name, key or id (Set)
	value  int64
	reply  chan controlReply // buffered: Serve never blocks on it
}

type controlReply struct {
	list    []Control
	control Control
	err     error
}

// NewControls returns the controls of the camera named camera, with the
// settings to apply at each open: keys are control names in any case and
// spacing ("Brightness", "exposure_auto": see v4l2.ControlKey) or ids
// ("9963776", "0x980900"). Two keys naming the same control are an error.
func NewControls(camera string, settings map[string]int64, log *slog.Logger) (*Controls, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controls{
		camera:   camera,
		log:      log.With("camera", camera),
		reqs:     make(chan controlRequest, controlQueueDepth),
		settings: make(map[string]int64, len(settings)),
		warned:   map[string]string{},
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		norm := normalizeTarget(k)
		if norm == "" {
			return nil, fmt.Errorf("camera %q: control setting %q names no control", camera, k)
		}
		if _, dup := c.settings[norm]; dup {
			return nil, fmt.Errorf("camera %q: control %q is set twice", camera, norm)
		}
		c.settings[norm] = settings[k]
	}
	return c, nil
}

// normalizeTarget turns a name into its ControlKey and an id into its
// decimal form.
func normalizeTarget(s string) string {
	if id, ok := parseControlID(s); ok {
		return strconv.FormatUint(uint64(id), 10)
	}
	return v4l2.ControlKey(s)
}

// parseControlID reads "9963776" or "0x980900".
func parseControlID(s string) (uint32, bool) {
	id, err := strconv.ParseUint(strings.TrimSpace(s), 0, 32)
	return uint32(id), err == nil && id != 0
}

// Opened applies the settings to a freshly opened device. The capture
// goroutine calls it after each open.
func (c *Controls) Opened(dev *v4l2.Device) { c.opened(dev) }

// Serve runs the waiting List and Set requests on dev and returns. The
// capture goroutine calls it at least every 250 ms while the device is
// open.
func (c *Controls) Serve(dev *v4l2.Device) { c.serve(dev) }

// Closed fails the waiting requests, and those to come until the next
// Opened, with an error wrapping ErrUnavailable ("camera not connected").
func (c *Controls) Closed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open = false
	for {
		select {
		case r := <-c.reqs:
			r.reply <- controlReply{err: errNotConnected}
		default:
			return
		}
	}
}

// List returns the camera's controls with their current values, in the
// driver's order. Errors wrap ErrUnavailable while the camera is not
// connected.
func (c *Controls) List(ctx context.Context) ([]Control, error) {
	r, err := c.do(ctx, controlRequest{list: true})
	if err != nil {
		return nil, fmt.Errorf("camera %q: list controls: %w", c.camera, err)
	}
	return r.list, nil
}

// Set sets the control named target (a name in any case and spacing, its
// key, or its id in decimal or 0x hex) to value, and returns the control
// as the driver then reports it. The value must be within the control's
// range and on its step, 0 or 1 for a boolean, an entry of a menu, bits of
// a bitmask; a button takes any value and is pressed. Errors wrap
// ErrNotFound for an unknown control, ErrInvalid for a value or control
// that cannot be set, ErrConflict when the driver holds the control
// (grabbed), and ErrUnavailable while the camera is not connected.
func (c *Controls) Set(ctx context.Context, target string, value int64) (Control, error) {
	r, err := c.do(ctx, controlRequest{target: target, value: value})
	if err != nil {
		return Control{}, fmt.Errorf("camera %q: %w", c.camera, err)
	}
	return r.control, nil
}

// do queues r for the capture goroutine and waits for its answer.
func (c *Controls) do(ctx context.Context, r controlRequest) (controlReply, error) {
	r.reply = make(chan controlReply, 1)
	c.mu.Lock()
	if !c.open {
		c.mu.Unlock()
		return controlReply{}, errNotConnected
	}
	select {
	case c.reqs <- r:
	default:
		c.mu.Unlock()
		return controlReply{}, fmt.Errorf("too many control requests waiting: %w", defs.ErrUnavailable)
	}
	c.mu.Unlock()
	t := time.NewTimer(controlReplyTimeout)
	defer t.Stop()
	select {
	case rep := <-r.reply:
		return rep, rep.err
	case <-ctx.Done():
		return controlReply{}, ctx.Err()
	case <-t.C:
		return controlReply{}, fmt.Errorf("the capture loop did not answer within %v: %w", controlReplyTimeout, defs.ErrUnavailable)
	}
}

func (c *Controls) serve(dev controlDevice) {
	for {
		select {
		case r := <-c.reqs:
			r.reply <- c.run(dev, r)
		default:
			return
		}
	}
}

func (c *Controls) run(dev controlDevice, r controlRequest) controlReply {
	list, err := dev.Controls()
	if err != nil {
		return controlReply{err: deviceControlErr(err)}
	}
	if r.list {
		return controlReply{list: list}
	}
	ctl, ok := findControl(list, r.target)
	if !ok {
		return controlReply{err: fmt.Errorf("no control %q (GET the controls for their names): %w", r.target, defs.ErrNotFound)}
	}
	got, err := c.set(dev, ctl, r.value)
	if err != nil {
		return controlReply{err: err}
	}
	if ctl.Type != v4l2.TypeButton {
		c.mu.Lock()
		delete(c.settings, strconv.FormatUint(uint64(ctl.ID), 10))
		c.settings[ctl.Key] = r.value
		c.mu.Unlock()
	}
	c.log.Info("camera control set", "control", ctl.Key, "value", r.value)
	return controlReply{control: got}
}

// set validates value, sets it and reads the control back.
func (c *Controls) set(dev controlDevice, ctl Control, value int64) (Control, error) {
	if err := validateControl(ctl, value); err != nil {
		return Control{}, err
	}
	if err := dev.SetControl(ctl.ID, value); err != nil {
		return Control{}, fmt.Errorf("set %s to %d: %w", ctl.Key, value, deviceControlErr(err))
	}
	got, err := dev.Control(ctl.ID)
	if err != nil {
		// Set, but not readable now: report what was set.
		ctl.Value = value
		return ctl, nil
	}
	return got, nil
}

// findControl finds target by id or by key.
func findControl(list []Control, target string) (Control, bool) {
	if id, ok := parseControlID(target); ok {
		for _, c := range list {
			if c.ID == id {
				return c, true
			}
		}
		return Control{}, false
	}
	key := v4l2.ControlKey(target)
	for _, c := range list {
		if c.Key == key {
			return c, true
		}
	}
	return Control{}, false
}

// validateControl checks value against what ctl takes. Errors wrap
// ErrInvalid.
func validateControl(ctl Control, value int64) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w value for %s: %s", defs.ErrInvalid, ctl.Key, fmt.Sprintf(format, args...))
	}
	switch {
	case ctl.HasFlag(v4l2.FlagDisabled):
		return bad("the control is disabled")
	case ctl.HasFlag(v4l2.FlagReadOnly):
		return bad("the control is read-only")
	}
	switch ctl.Type {
	case v4l2.TypeButton:
		return nil
	case v4l2.TypeBoolean:
		if value != 0 && value != 1 {
			return bad("%d is not a boolean (0 or 1)", value)
		}
	case v4l2.TypeInteger, v4l2.TypeInteger64:
		if value < ctl.Min || value > ctl.Max {
			return bad("%d is outside %d..%d", value, ctl.Min, ctl.Max)
		}
		if ctl.Step > 1 && uint64(value-ctl.Min)%ctl.Step != 0 {
			return bad("%d is not %d plus a multiple of %d", value, ctl.Min, ctl.Step)
		}
	case v4l2.TypeMenu, v4l2.TypeIntegerMenu:
		for _, e := range ctl.Menu {
			if e.Index == value {
				return nil
			}
		}
		idx := make([]string, 0, len(ctl.Menu))
		for _, e := range ctl.Menu {
			idx = append(idx, strconv.FormatInt(e.Index, 10))
		}
		return bad("%d is not one of the menu's entries (%s)", value, strings.Join(idx, ", "))
	case v4l2.TypeBitmask:
		if value < 0 || uint64(value)&^uint64(ctl.Max) != 0 {
			return bad("%#x has bits outside the mask %#x", value, ctl.Max)
		}
	default:
		return bad("camrec cannot set controls of type %s", ctl.Type)
	}
	return nil
}

// deviceControlErr maps what the driver said to the sentinel errors.
func deviceControlErr(err error) error {
	switch {
	case errors.Is(err, v4l2.ErrDisconnected), errors.Is(err, v4l2.ErrClosed):
		return fmt.Errorf("%w: %w", errNotConnected, err)
	case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ERANGE), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w: the driver refused: %w", defs.ErrInvalid, err)
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%w: the driver holds the control now: %w", defs.ErrConflict, err)
	}
	return err
}

// opened marks the device open and applies the settings in the driver's
// order (which puts auto modes before the values they govern: "Auto
// Exposure" comes before "Exposure Time, Absolute").
func (c *Controls) opened(dev controlDevice) {
	c.mu.Lock()
	c.open = true
	settings := maps.Clone(c.settings)
	c.mu.Unlock()
	if len(settings) == 0 {
		return
	}
	list, err := dev.Controls()
	if err != nil {
		c.warnOnce("*", "camera controls not applied: listing them failed", err)
		return
	}
	c.clearWarning("*")
	applied, failed := 0, 0
	for _, ctl := range list {
		for _, k := range []string{ctl.Key, strconv.FormatUint(uint64(ctl.ID), 10)} {
			v, ok := settings[k]
			if !ok {
				continue
			}
			delete(settings, k)
			if _, err := c.set(dev, ctl, v); err != nil {
				c.warnOnce(k, "camera control setting not applied", err, "control", k, "value", v)
				failed++
				continue
			}
			c.clearWarning(k)
			applied++
		}
	}
	if len(settings) > 0 {
		keys := make([]string, 0, len(list))
		for _, ctl := range list {
			keys = append(keys, ctl.Key)
		}
		for _, k := range slices.Sorted(maps.Keys(settings)) {
			c.warnOnce(k, "camera has no such control; setting ignored", fmt.Errorf("no control %q", k),
				"control", k, "controls", strings.Join(keys, " "))
			failed++
		}
	}
	c.log.Info("camera controls applied", "applied", applied, "failed", failed)
}

// warnOnce logs a failed setting, once per distinct failure across
// reconnects.
func (c *Controls) warnOnce(key, msg string, err error, attrs ...any) {
	c.mu.Lock()
	seen := c.warned[key] == err.Error()
	c.warned[key] = err.Error()
	c.mu.Unlock()
	if seen {
		return
	}
	c.log.Warn(msg, append(attrs, "error", err)...)
}

func (c *Controls) clearWarning(key string) {
	c.mu.Lock()
	delete(c.warned, key)
	c.mu.Unlock()
}
