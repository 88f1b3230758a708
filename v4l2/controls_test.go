package v4l2

import (
	"slices"
	"testing"
	"unsafe"
)

func TestControlKey(t *testing.T) {
	cases := map[string]string{
		"Brightness":                        "brightness",
		"White Balance Temperature, Auto":   "white_balance_temperature_auto",
		"Exposure, Auto":                    "exposure_auto",
		"Auto Exposure":                     "auto_exposure",
		"Inject V4L2_BUF_FLAG_ERROR":        "inject_v4l2_buf_flag_error",
		"Percentage of Dropped Buffers":     "percentage_of_dropped_buffers",
		"  Power Line Frequency  ":          "power_line_frequency",
		"Integer 32 Bits":                   "integer_32_bits",
		"brightness":                        "brightness",
		"--":                                "",
		"Pan, Reset (Relative) / Tilt—Sync": "pan_reset_relative_tilt_sync",
	}
	for in, want := range cases {
		if got := ControlKey(in); got != want {
			t.Errorf("ControlKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestControlABI pins the structs and request codes to linux/videodev2.h
// (amd64 and arm64 values; extControls ends in a pointer).
func TestControlABI(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("request codes below are those of 64-bit systems")
	}
	cases := []struct {
		name      string
		size, got uintptr
		wantSize  uintptr
		wantCode  uintptr
	}{
		{"v4l2_query_ext_ctrl", unsafe.Sizeof(queryExtCtrl{}), vidiocQueryExtCtrl, 232, 0xc0e85667},
		{"v4l2_queryctrl", unsafe.Sizeof(queryCtrl{}), vidiocQueryCtrl, 68, 0xc0445624},
		{"v4l2_querymenu", unsafe.Sizeof(queryMenu{}), vidiocQueryMenu, 44, 0xc02c5625},
		{"v4l2_ext_controls (G)", unsafe.Sizeof(extControls{}), vidiocGExtCtrls, 32, 0xc0205647},
		{"v4l2_ext_controls (S)", unsafe.Sizeof(extControls{}), vidiocSExtCtrls, 32, 0xc0205648},
		{"v4l2_ext_control", unsafe.Sizeof(extControl{}), 0, 20, 0},
	}
	for _, tc := range cases {
		if tc.size != tc.wantSize || tc.got != tc.wantCode {
			t.Errorf("%s: size %d code %#x, want %d and %#x", tc.name, tc.size, tc.got, tc.wantSize, tc.wantCode)
		}
	}
	if off := unsafe.Offsetof(queryExtCtrl{}.minimum); off != 40 {
		t.Errorf("v4l2_query_ext_ctrl.minimum at %d, want 40", off)
	}
	if off := unsafe.Offsetof(extControls{}.controls); off != 24 {
		t.Errorf("v4l2_ext_controls.controls at %d, want 24", off)
	}
}

func TestControlTypesAndFlags(t *testing.T) {
	for typ, want := range map[uint32]string{1: TypeInteger, 2: TypeBoolean, 3: TypeMenu, 4: TypeButton, 5: TypeInteger64,
		6: "", 7: TypeString, 8: TypeBitmask, 9: TypeIntegerMenu, 0x100: TypeCompound, 0x106: TypeCompound} {
		if got := typeName(typ); got != want {
			t.Errorf("typeName(%#x) = %q, want %q", typ, got, want)
		}
	}
	if got := flagNames(0x0004 | 0x0010 | 0x0020 | 0x0100); !slices.Equal(got, []string{FlagReadOnly, FlagInactive, FlagSlider}) {
		t.Errorf("flagNames: %v", got)
	}
	if got := flagNames(0); got == nil || len(got) != 0 {
		t.Errorf("flagNames(0) = %#v, want an empty, non-nil slice (JSON [])", got)
	}
	cases := []struct {
		c                  Control
		readable, settable bool
	}{
		{Control{Type: TypeInteger, Flags: []string{}}, true, true},
		{Control{Type: TypeInteger, Flags: []string{FlagReadOnly}}, true, false},
		{Control{Type: TypeInteger, Flags: []string{FlagInactive}}, true, true},
		{Control{Type: TypeInteger, Flags: []string{FlagDisabled}}, false, false},
		{Control{Type: TypeButton, Flags: []string{FlagWrite}}, false, true},
		{Control{Type: TypeMenu, Flags: []string{}}, true, true},
		{Control{Type: TypeString, Flags: []string{}}, false, false},
		{Control{Type: TypeCompound, Flags: []string{}}, false, false},
	}
	for _, tc := range cases {
		if tc.c.Readable() != tc.readable || tc.c.Settable() != tc.settable {
			t.Errorf("%s %v: readable %v settable %v, want %v %v", tc.c.Type, tc.c.Flags, tc.c.Readable(), tc.c.Settable(), tc.readable, tc.settable)
		}
	}
}
