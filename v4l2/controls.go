package v4l2

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Control is one of a device's controls (brightness, exposure, a vivid test
// button …) as VIDIOC_QUERY_EXT_CTRL describes it, with its current value.
type Control struct {
	ID uint32
	// Name is the driver's name ("Brightness", "Auto Exposure"); Key the
	// same in lower_snake ("brightness", "auto_exposure"): see ControlKey.
	Name string
	Key  string
	// Type is one of the Type* constants.
	Type    string
	Min     int64
	Max     int64
	Step    uint64
	Default int64
	// Value is the current value. It is 0 for controls that have none to
	// read: buttons, write-only and disabled controls, strings and compound
	// controls (see Readable).
	Value int64
	// Flags are the set ones among the Flag* constants; never nil.
	Flags []string
	// Menu lists the entries of a menu or integer menu control; the driver
	// may leave holes between Min and Max.
	Menu []MenuEntry
}

// MenuEntry is one choice of a menu control: Name for a menu, Value for an
// integer menu.
type MenuEntry struct {
	Index int64
	Name  string
	Value int64
}

// Control types, as reported in Control.Type.
const (
	TypeInteger     = "integer"
	TypeBoolean     = "boolean"
	TypeMenu        = "menu"
	TypeButton      = "button"
	TypeInteger64   = "integer64"
	TypeString      = "string"
	TypeBitmask     = "bitmask"
	TypeIntegerMenu = "integer_menu"
	// TypeCompound covers the array and struct types (U8, U16, areas,
	// codec parameters …) that have no single integer value.
	TypeCompound = "compound"
)

// Control flags, as reported in Control.Flags.
const (
	FlagDisabled = "disabled"
	FlagGrabbed  = "grabbed" // temporarily unchangeable, e.g. while streaming
	FlagReadOnly = "read_only"
	FlagInactive = "inactive" // settable, but without effect now (e.g. manual exposure while auto)
	FlagSlider   = "slider"
	FlagWrite    = "write_only"
	FlagVolatile = "volatile" // the driver changes the value itself
)

// HasFlag reports whether c has flag f.
func (c Control) HasFlag(f string) bool {
	for _, g := range c.Flags {
		if g == f {
			return true
		}
	}
	return false
}

// Readable reports whether c has a current value to read.
func (c Control) Readable() bool {
	switch c.Type {
	case TypeButton, TypeString, TypeCompound:
		return false
	}
	return !c.HasFlag(FlagDisabled) && !c.HasFlag(FlagWrite)
}

// Settable reports whether c takes an integer value (read-only, disabled,
// string and compound controls do not).
func (c Control) Settable() bool {
	switch c.Type {
	case TypeString, TypeCompound:
		return false
	}
	return !c.HasFlag(FlagDisabled) && !c.HasFlag(FlagReadOnly)
}

// ControlKey turns a driver's control name into the lower_snake key used
// in configuration files and the API: "White Balance Temperature, Auto"
// gives "white_balance_temperature_auto".
func ControlKey(name string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if sep && b.Len() > 0 {
				b.WriteByte('_')
			}
			sep = false
			b.WriteRune(r)
			continue
		}
		sep = true
	}
	return b.String()
}

// Controls enumerates all the device's controls (buttons and menus
// included, which blackjack/webcam's GetControls leaves out) in the
// driver's order, with their current values. Call it from the goroutine
// that owns the device.
func (d *Device) Controls() ([]Control, error) {
	fd, err := d.controlFD()
	if err != nil {
		return nil, err
	}
	cs, err := listControls(fd)
	if err != nil {
		return nil, d.deviceErr("list controls", err)
	}
	return cs, nil
}

// Control returns the control with the given id and its current value.
// An unknown id gives an error wrapping syscall.EINVAL.
func (d *Device) Control(id uint32) (Control, error) {
	fd, err := d.controlFD()
	if err != nil {
		return Control{}, err
	}
	c, err := queryControl(fd, id)
	if err != nil {
		return Control{}, d.deviceErr(fmt.Sprintf("query control %#x", id), err)
	}
	return c, nil
}

// SetControl sets the control id to value with VIDIOC_S_EXT_CTRLS. The
// driver clamps integers to their range and rejects what it cannot take
// (EINVAL for an unknown id, ERANGE; EACCES for read-only controls; EBUSY
// when grabbed): validate before calling. For a button, value is ignored and the button
// pressed.
func (d *Device) SetControl(id uint32, value int64) error {
	fd, err := d.controlFD()
	if err != nil {
		return err
	}
	if err := setControl(fd, id, value); err != nil {
		return d.deviceErr(fmt.Sprintf("set control %#x to %d", id, value), err)
	}
	return nil
}

// controlFD returns the device's file descriptor.
func (d *Device) controlFD() (int, error) {
	if d.closed {
		return -1, fmt.Errorf("controls of %s: %w", d.path, ErrClosed)
	}
	wd, ok := d.drv.(*webcamDriver)
	if !ok {
		return -1, fmt.Errorf("controls of %s: not a V4L2 device", d.path)
	}
	if wd.fd >= 0 {
		return wd.fd, nil
	}
	// The /proc/self/fd scan at open was ambiguous. blackjack/webcam v0.6.1
	// keeps the descriptor in an unexported field; reflection may read it.
	f := reflect.ValueOf(wd.cam).Elem().FieldByName("fd")
	if f.IsValid() && f.CanUint() {
		return int(f.Uint()), nil
	}
	return -1, fmt.Errorf("controls of %s: the device's file descriptor is unknown", d.path)
}

// ControlNode is a second descriptor of a V4L2 node, opened for its
// controls only: it does not capture, so it can list and set the controls
// of a device another process (or another Device) streams from. camrec's
// capture goroutine uses Device's methods instead; ControlNode serves tools
// and tests.
type ControlNode struct {
	f *os.File
}

// OpenControlNode opens the node at path for its controls.
func OpenControlNode(path string) (*ControlNode, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open controls of %s: %w", path, err)
	}
	return &ControlNode{f: f}, nil
}

// Controls is Device.Controls.
func (n *ControlNode) Controls() ([]Control, error) {
	cs, err := listControls(int(n.f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("list controls of %s: %w", n.f.Name(), err)
	}
	return cs, nil
}

// Control is Device.Control.
func (n *ControlNode) Control(id uint32) (Control, error) {
	c, err := queryControl(int(n.f.Fd()), id)
	if err != nil {
		return Control{}, fmt.Errorf("query control %#x of %s: %w", id, n.f.Name(), err)
	}
	return c, nil
}

// SetControl is Device.SetControl.
func (n *ControlNode) SetControl(id uint32, value int64) error {
	if err := setControl(int(n.f.Fd()), id, value); err != nil {
		return fmt.Errorf("set control %#x of %s to %d: %w", id, n.f.Name(), value, err)
	}
	return nil
}

// Close closes the node.
func (n *ControlNode) Close() error { return n.f.Close() }

// From linux/videodev2.h. A request code is _IOWR('V', nr, size of the
// argument): the sizes come from the structs, so that extControls, which
// ends in a pointer, gets its own size on each word size.
const (
	iowrV              = 3<<30 | 'V'<<8
	vidiocQueryCtrl    = iowrV | unsafe.Sizeof(queryCtrl{})<<16 | 36
	vidiocQueryMenu    = iowrV | unsafe.Sizeof(queryMenu{})<<16 | 37
	vidiocGExtCtrls    = iowrV | unsafe.Sizeof(extControls{})<<16 | 71
	vidiocSExtCtrls    = iowrV | unsafe.Sizeof(extControls{})<<16 | 72
	vidiocQueryExtCtrl = iowrV | unsafe.Sizeof(queryExtCtrl{})<<16 | 103

	ctrlFlagNextCtrl = 0x80000000

	ctrlTypeInteger     = 1
	ctrlTypeBoolean     = 2
	ctrlTypeMenu        = 3
	ctrlTypeButton      = 4
	ctrlTypeInteger64   = 5
	ctrlTypeCtrlClass   = 6
	ctrlTypeString      = 7
	ctrlTypeBitmask     = 8
	ctrlTypeIntegerMenu = 9
)

// flagNames names the set bits of a control's flags.
func flagNames(flags uint32) []string {
	names := []string{}
	for _, f := range [...]struct {
		bit  uint32
		name string
	}{
		{0x0001, FlagDisabled},
		{0x0002, FlagGrabbed},
		{0x0004, FlagReadOnly},
		{0x0010, FlagInactive},
		{0x0020, FlagSlider},
		{0x0040, FlagWrite},
		{0x0080, FlagVolatile},
	} {
		if flags&f.bit != 0 {
			names = append(names, f.name)
		}
	}
	return names
}

// queryExtCtrl is struct v4l2_query_ext_ctrl (232 bytes).
type queryExtCtrl struct {
	id           uint32
	typ          uint32
	name         [32]byte
	minimum      int64
	maximum      int64
	step         uint64
	defaultValue int64
	flags        uint32
	elemSize     uint32
	elems        uint32
	nrOfDims     uint32
	dims         [4]uint32
	reserved     [32]uint32
}

// queryCtrl is struct v4l2_queryctrl (68 bytes), for drivers without
// VIDIOC_QUERY_EXT_CTRL.
type queryCtrl struct {
	id           uint32
	typ          uint32
	name         [32]byte
	minimum      int32
	maximum      int32
	step         int32
	defaultValue int32
	flags        uint32
	reserved     [2]uint32
}

// queryMenu is struct v4l2_querymenu (44 bytes, packed): the union holds
// a name or, for integer menus, an int64 (read with its bytes).
type queryMenu struct {
	id       uint32
	index    uint32
	name     [32]byte
	reserved uint32
}

// extControl is struct v4l2_ext_control (20 bytes, packed); value holds
// the union's value (int32) or value64.
type extControl struct {
	id       uint32
	size     uint32
	reserved uint32
	value    [8]byte
}

// extControls is struct v4l2_ext_controls on 64-bit (32 bytes) and
// 32-bit (24 bytes) systems alike: the pointer ends it.
type extControls struct {
	which    uint32
	count    uint32
	errorIdx uint32
	reqFD    int32
	reserved uint32
	controls *extControl
}

func ctrlIoctl(fd int, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		default:
			return e
		}
	}
}

// listControls enumerates with VIDIOC_QUERY_EXT_CTRL and the NEXT_CTRL
// flag, or VIDIOC_QUERYCTRL where the driver lacks the former.
func listControls(fd int) ([]Control, error) {
	var out []Control
	id := uint32(0)
	ext := true
	for {
		c, next, err := query(fd, id|ctrlFlagNextCtrl, ext)
		if ext && errors.Is(err, unix.ENOTTY) {
			ext = false
			continue
		}
		if errors.Is(err, unix.EINVAL) {
			return out, nil // past the last control
		}
		if err != nil {
			return out, err
		}
		if next <= id {
			return out, nil // a driver that does not advance: stop, never loop
		}
		id = next
		if c.Type == "" {
			continue // a control class heading
		}
		if err := fill(fd, &c); err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

// queryControl returns one control by id.
func queryControl(fd int, id uint32) (Control, error) {
	c, _, err := query(fd, id, true)
	if errors.Is(err, unix.ENOTTY) {
		c, _, err = query(fd, id, false)
	}
	if err != nil {
		return Control{}, err
	}
	if c.Type == "" {
		return Control{}, fmt.Errorf("control %#x is a class heading: %w", id, unix.EINVAL)
	}
	if err := fill(fd, &c); err != nil {
		return Control{}, err
	}
	return c, nil
}

// query runs one QUERY(_EXT)CTRL. id is the id found (with NEXT_CTRL, the
// next control's). c.Type is "" for control class headings.
func query(fd int, id uint32, ext bool) (c Control, found uint32, err error) {
	var typ, flags uint32
	if ext {
		q := queryExtCtrl{id: id}
		if err := ctrlIoctl(fd, vidiocQueryExtCtrl, unsafe.Pointer(&q)); err != nil {
			return Control{}, 0, err
		}
		typ, flags = q.typ, q.flags
		c = Control{ID: q.id, Name: cString(q.name[:]), Min: q.minimum, Max: q.maximum, Step: q.step, Default: q.defaultValue}
	} else {
		q := queryCtrl{id: id}
		if err := ctrlIoctl(fd, vidiocQueryCtrl, unsafe.Pointer(&q)); err != nil {
			return Control{}, 0, err
		}
		typ, flags = q.typ, q.flags
		c = Control{ID: q.id, Name: cString(q.name[:]), Min: int64(q.minimum), Max: int64(q.maximum), Step: uint64(q.step), Default: int64(q.defaultValue)}
	}
	c.Key = ControlKey(c.Name)
	c.Type = typeName(typ)
	c.Flags = flagNames(flags)
	return c, c.ID, nil
}

func typeName(t uint32) string {
	switch t {
	case ctrlTypeInteger:
		return TypeInteger
	case ctrlTypeBoolean:
		return TypeBoolean
	case ctrlTypeMenu:
		return TypeMenu
	case ctrlTypeButton:
		return TypeButton
	case ctrlTypeInteger64:
		return TypeInteger64
	case ctrlTypeCtrlClass:
		return ""
	case ctrlTypeString:
		return TypeString
	case ctrlTypeBitmask:
		return TypeBitmask
	case ctrlTypeIntegerMenu:
		return TypeIntegerMenu
	default:
		return TypeCompound
	}
}

// fill reads c's menu entries and current value.
func fill(fd int, c *Control) error {
	if c.Type == TypeMenu || c.Type == TypeIntegerMenu {
		for i := c.Min; i <= c.Max && i >= 0 && i <= 0xffff; i++ {
			m := queryMenu{id: c.ID, index: uint32(i)}
			err := ctrlIoctl(fd, vidiocQueryMenu, unsafe.Pointer(&m))
			if errors.Is(err, unix.EINVAL) {
				continue // a hole: the driver skips this index
			}
			if err != nil {
				return fmt.Errorf("menu of %q: %w", c.Name, err)
			}
			e := MenuEntry{Index: i}
			if c.Type == TypeMenu {
				e.Name = cString(m.name[:])
			} else {
				e.Value = *(*int64)(unsafe.Pointer(&m.name[0]))
			}
			c.Menu = append(c.Menu, e)
		}
	}
	if !c.Readable() {
		return nil
	}
	v, err := getControl(fd, c.ID, c.Type == TypeInteger64)
	switch {
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EINVAL):
		// Write-only in fact, or not readable in this state: no value.
		return nil
	case err != nil:
		return fmt.Errorf("read %q: %w", c.Name, err)
	}
	c.Value = v
	return nil
}

// getControl reads one control with VIDIOC_G_EXT_CTRLS (which = current
// value, any class).
func getControl(fd int, id uint32, is64 bool) (int64, error) {
	ec := extControl{id: id}
	cs := extControls{count: 1, controls: &ec}
	if err := ctrlIoctl(fd, vidiocGExtCtrls, unsafe.Pointer(&cs)); err != nil {
		return 0, err
	}
	if is64 {
		return *(*int64)(unsafe.Pointer(&ec.value[0])), nil
	}
	return int64(*(*int32)(unsafe.Pointer(&ec.value[0]))), nil
}

// setControl writes one control with VIDIOC_S_EXT_CTRLS, as the union's
// int32 member or, for 64-bit controls, its int64 member: the control is
// queried first for its type.
func setControl(fd int, id uint32, value int64) error {
	c, _, err := query(fd, id, true)
	if errors.Is(err, unix.ENOTTY) {
		c, _, err = query(fd, id, false)
	}
	if err != nil {
		return err
	}
	ec := extControl{id: id}
	if c.Type == TypeInteger64 {
		*(*int64)(unsafe.Pointer(&ec.value[0])) = value
	} else {
		if value < math.MinInt32 || value > math.MaxInt32 {
			return fmt.Errorf("value %d does not fit the control's 32 bits: %w", value, unix.ERANGE)
		}
		*(*int32)(unsafe.Pointer(&ec.value[0])) = int32(value)
	}
	cs := extControls{count: 1, controls: &ec}
	return ctrlIoctl(fd, vidiocSExtCtrls, unsafe.Pointer(&cs))
}

func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
