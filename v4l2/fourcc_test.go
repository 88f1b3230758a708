package v4l2

import "testing"

func TestFourCC(t *testing.T) {
	tests := []struct {
		code uint32
		want string
	}{
		{PixMJPEG, "MJPG"},
		{PixJPEG, "JPEG"},
		{PixYUYV, "YUYV"},
		{0x3231564E, "NV12"},
		{0x20303159, "Y10"},                // "Y10 " with its trailing space dropped
		{0x35315258 | 1<<31, "XR15-BE"},    // big-endian variant
		{0x00000001, "0x00000001"},         // not printable
		{0x20202020, "0x20202020"},         // only spaces
		{0x00000001 | 1<<31, "0x80000001"}, // not printable, flag kept in the number
	}
	for _, tt := range tests {
		if got := FourCC(tt.code); got != tt.want {
			t.Errorf("FourCC(%#08x) = %q, want %q", tt.code, got, tt.want)
		}
	}
}

func TestFormatName(t *testing.T) {
	tests := []struct {
		code uint32
		desc string
		want string
	}{
		{PixYUYV, "YUYV 4:2:2", "YUYV 4:2:2"},
		{0x3231564E, "Y/UV 4:2:0", "NV12 (Y/UV 4:2:0)"},
		{PixMJPEG, "Motion-JPEG", "MJPG (Motion-JPEG)"},
		{PixMJPEG, "", "MJPG"},
		{PixMJPEG, "MJPG", "MJPG"},
	}
	for _, tt := range tests {
		if got := formatName(tt.code, tt.desc); got != tt.want {
			t.Errorf("formatName(%s, %q) = %q, want %q", FourCC(tt.code), tt.desc, got, tt.want)
		}
	}
}
