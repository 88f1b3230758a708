package v4l2

import (
	"fmt"
	"strings"
)

// Pixel formats camrec knows by number (V4L2 fourcc codes, little endian).
const (
	PixMJPEG uint32 = 0x47504A4D // "MJPG"
	PixJPEG  uint32 = 0x4745504A // "JPEG": some older drivers' name for the same thing
	PixYUYV  uint32 = 0x56595559 // "YUYV"
	PixH264  uint32 = 0x34363248 // "H264": H.264 with start codes (Annex B)
)

// fourccBigEndian is V4L2_PIX_FMT_FLAG_BE: the format is the big-endian
// variant of the one named by the lower 31 bits.
const fourccBigEndian uint32 = 1 << 31

// FourCC returns the four-character code of a V4L2 pixel format ("MJPG",
// "YUYV", "Y10" with trailing spaces removed, "XR15-BE" for big-endian
// variants), or the number in hex when the code is not printable.
func FourCC(code uint32) string {
	suffix := ""
	if code&fourccBigEndian != 0 {
		code &^= fourccBigEndian
		suffix = "-BE"
	}
	b := []byte{byte(code), byte(code >> 8), byte(code >> 16), byte(code >> 24)}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("0x%08X", code|flagIf(suffix != ""))
		}
	}
	s := strings.TrimRight(string(b), " ")
	if s == "" {
		return fmt.Sprintf("0x%08X", code|flagIf(suffix != ""))
	}
	return s + suffix
}

func flagIf(be bool) uint32 {
	if be {
		return fourccBigEndian
	}
	return 0
}

// formatName is how a format is shown to a user: the driver's description
// when it already starts with the fourcc ("YUYV 4:2:2"), else the fourcc
// followed by the description ("NV12 (Y/UV 4:2:0)"), or the fourcc alone.
func formatName(code uint32, desc string) string {
	cc := FourCC(code)
	desc = strings.TrimSpace(desc)
	switch {
	case desc == "" || desc == cc:
		return cc
	case strings.HasPrefix(desc, cc):
		return desc
	default:
		return cc + " (" + desc + ")"
	}
}

func isMJPEG(code uint32) bool { return code == PixMJPEG || code == PixJPEG }

// compareFourCC orders MJPEG first, then by fourcc name.
func compareFourCC(a, b uint32) int {
	ma, mb := isMJPEG(a), isMJPEG(b)
	switch {
	case ma && !mb:
		return -1
	case mb && !ma:
		return 1
	}
	return strings.Compare(FourCC(a), FourCC(b))
}
