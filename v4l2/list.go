package v4l2

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/blackjack/webcam"
)

// DeviceInfo describes one /dev/video* node for `camrec -list-devices`.
type DeviceInfo struct {
	// Path is the node, e.g. /dev/video0.
	Path string
	// Links are the stable names (/dev/v4l/by-id/..., /dev/v4l/by-path/...)
	// that point at Path. Prefer them in the config: node numbers change.
	Links []string
	// Name is the card name, Driver the kernel driver (uvcvideo), Bus the
	// bus info (usb-0000:00:14.0-1); each "" when not obtainable.
	Name, Driver, Bus string
	// Err says why the node could not be opened or queried (busy,
	// permission denied, not a capture node); nil otherwise.
	Err error
	// Formats the node offers for capture, MJPEG first.
	Formats []FormatInfo
}

// FormatInfo is one pixel format and the sizes offered in it.
type FormatInfo struct {
	Code        uint32
	FourCC      string
	Description string
	Sizes       []SizeInfo
}

// SizeInfo is one size (or range of sizes) and the rates offered at it; for
// a stepwise range the rates are those at its largest size.
type SizeInfo struct {
	Size  SizeRange
	Rates []RateRange
}

// ListDevices probes every /dev/video* node, sorted by number. Nodes that
// cannot be opened are listed with their error. log may be nil.
func ListDevices(log *slog.Logger) ([]DeviceInfo, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return listDevices("/dev", "/sys", log)
}

// listDevices is ListDevices with the /dev and /sys roots as parameters, so
// tests can point it at a directory of fixtures.
func listDevices(devRoot, sysRoot string, log *slog.Logger) ([]DeviceInfo, error) {
	nodes, err := filepath.Glob(filepath.Join(devRoot, "video*"))
	if err != nil {
		return nil, fmt.Errorf("list video devices: %w", err)
	}
	slices.SortFunc(nodes, compareNodes)
	links := stableLinks(devRoot, log)
	out := make([]DeviceInfo, 0, len(nodes))
	for _, n := range nodes {
		info := probe(n)
		if real, err := filepath.EvalSymlinks(n); err == nil {
			info.Links = links[real]
		}
		base := filepath.Base(n)
		if info.Name == "" {
			info.Name = readTrimmed(filepath.Join(sysRoot, "class", "video4linux", base, "name"))
		}
		if drv, err := os.Readlink(filepath.Join(sysRoot, "class", "video4linux", base, "device", "driver")); err == nil {
			info.Driver = filepath.Base(drv)
		}
		if info.Err != nil {
			log.Debug("video device not usable", "device", n, "error", info.Err)
		}
		out = append(out, info)
	}
	return out, nil
}

// probe opens a node and enumerates what it offers.
func probe(path string) DeviceInfo {
	info := DeviceInfo{Path: path}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		info.Err = err
		return info
	}
	cam, _, _, err := openWebcam(path, resolved)
	if err != nil {
		info.Err = explainOpenErr(err)
		return info
	}
	defer func() { _ = cam.Close() }()
	info.Name, _ = cam.GetName()
	info.Bus, _ = cam.GetBusInfo()
	formats := cam.GetSupportedFormats()
	codes := make([]uint32, 0, len(formats))
	for c := range formats {
		codes = append(codes, uint32(c))
	}
	slices.SortFunc(codes, compareFourCC)
	for _, c := range codes {
		pf := webcam.PixelFormat(c)
		f := FormatInfo{Code: c, FourCC: FourCC(c), Description: strings.TrimSpace(formats[pf])}
		for _, s := range sizesOf(cam.GetSupportedFrameSizes(pf)) {
			si := SizeInfo{Size: s}
			if !s.Continuous() {
				si.Rates = ratesOf(cam.GetSupportedFramerates(pf, uint32(s.MaxWidth), uint32(s.MaxHeight)))
			}
			f.Sizes = append(f.Sizes, si)
		}
		info.Formats = append(info.Formats, f)
	}
	return info
}

// stableLinks maps each node (symlinks resolved) to the /dev/v4l/by-id and
// by-path links that point at it.
func stableLinks(devRoot string, log *slog.Logger) map[string][]string {
	m := make(map[string][]string)
	for _, dir := range []string{"by-id", "by-path"} {
		links, err := filepath.Glob(filepath.Join(devRoot, "v4l", dir, "*"))
		if err != nil {
			continue
		}
		slices.Sort(links)
		for _, l := range links {
			real, err := filepath.EvalSymlinks(l)
			if err != nil {
				log.Debug("dangling video device link", "link", l, "error", err)
				continue
			}
			m[real] = append(m[real], l)
		}
	}
	return m
}

// compareNodes orders /dev/video2 before /dev/video10; names without a
// number come last, by name.
func compareNodes(a, b string) int {
	na, ea := strconv.Atoi(strings.TrimPrefix(filepath.Base(a), "video"))
	nb, eb := strconv.Atoi(strings.TrimPrefix(filepath.Base(b), "video"))
	switch {
	case ea == nil && eb == nil && na != nb:
		if na < nb {
			return -1
		}
		return 1
	case ea == nil && eb != nil:
		return -1
	case ea != nil && eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// WriteDeviceList writes devices as a readable tree:
//
//	/dev/video0: HD Pro Webcam C920 (driver uvcvideo, bus usb-0000:00:14.0-1)
//	  link /dev/v4l/by-id/usb-046d_HD_Pro_Webcam_C920_ABCD-video-index0
//	  MJPG (Motion-JPEG)
//	    1920x1080  30, 24, 20, 15, 10, 7.5, 5 fps
//	/dev/video1: HD Pro Webcam C920 (driver uvcvideo, bus usb-0000:00:14.0-1)
//	  error: Not a video capture device
func WriteDeviceList(w io.Writer, devs []DeviceInfo) error {
	ew := &errWriter{w: w}
	if len(devs) == 0 {
		ew.printf("no video devices found (/dev/video*)\n")
		return ew.err
	}
	for _, d := range devs {
		ew.printf("%s:", d.Path)
		if d.Name != "" {
			ew.printf(" %s", d.Name)
		}
		var meta []string
		if d.Driver != "" {
			meta = append(meta, "driver "+d.Driver)
		}
		if d.Bus != "" {
			meta = append(meta, "bus "+d.Bus)
		}
		if len(meta) > 0 {
			ew.printf(" (%s)", strings.Join(meta, ", "))
		}
		ew.printf("\n")
		for _, l := range d.Links {
			ew.printf("  link %s\n", l)
		}
		if d.Err != nil {
			ew.printf("  error: %v\n", d.Err)
			continue
		}
		if len(d.Formats) == 0 {
			ew.printf("  no capture formats\n")
		}
		for _, f := range d.Formats {
			ew.printf("  %s\n", formatName(f.Code, f.Description))
			width := 0
			for _, s := range f.Sizes {
				width = max(width, len(s.Size.String()))
			}
			for _, s := range f.Sizes {
				rates := "rates not reported"
				if len(s.Rates) > 0 {
					rates = formatRates(s.Rates) + " fps"
				}
				ew.printf("    %-*s  %s\n", width, s.Size.String(), rates)
			}
		}
	}
	return ew.err
}

// errWriter keeps the first write error and skips the writes after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	if _, err := fmt.Fprintf(e.w, format, args...); err != nil {
		e.err = fmt.Errorf("write device list: %w", err)
	}
}
