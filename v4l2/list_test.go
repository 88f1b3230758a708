package v4l2

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Set CAMREC_UPDATE_GOLDEN=1 to rewrite the golden files from the output.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("CAMREC_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestWriteDeviceList(t *testing.T) {
	uvcRates := []RateRange{DiscreteRate(30), DiscreteRate(24), DiscreteRate(20), DiscreteRate(15),
		DiscreteRate(10), DiscreteRate(7.5), DiscreteRate(5)}
	devs := []DeviceInfo{
		{
			Path:   "/dev/video0",
			Links:  []string{"/dev/v4l/by-id/usb-046d_HD_Pro_Webcam_C920_1A2B3C4D-video-index0", "/dev/v4l/by-path/pci-0000:00:14.0-usb-0:1:1.0-video-index0"},
			Name:   "HD Pro Webcam C920",
			Driver: "uvcvideo",
			Bus:    "usb-0000:00:14.0-1",
			Formats: []FormatInfo{
				{Code: PixMJPEG, FourCC: "MJPG", Description: "Motion-JPEG", Sizes: []SizeInfo{
					{Size: DiscreteSize(1920, 1080), Rates: uvcRates},
					{Size: DiscreteSize(1280, 720), Rates: uvcRates},
					{Size: DiscreteSize(640, 480), Rates: uvcRates},
				}},
				{Code: PixYUYV, FourCC: "YUYV", Description: "YUYV 4:2:2", Sizes: []SizeInfo{
					{Size: DiscreteSize(1920, 1080), Rates: []RateRange{DiscreteRate(5)}},
					{Size: DiscreteSize(640, 480), Rates: uvcRates},
				}},
			},
		},
		{
			Path:   "/dev/video1",
			Links:  []string{"/dev/v4l/by-id/usb-046d_HD_Pro_Webcam_C920_1A2B3C4D-video-index1"},
			Name:   "HD Pro Webcam C920",
			Driver: "uvcvideo",
			Err:    explainOpenErr(errors.New("Not a video capture device")),
		},
		{
			Path: "/dev/video2",
			Name: "mmal service 16.1",
			Formats: []FormatInfo{
				{Code: PixMJPEG, FourCC: "MJPG", Description: "Motion-JPEG", Sizes: []SizeInfo{
					{Size: SizeRange{MinWidth: 32, MaxWidth: 2592, StepWidth: 2, MinHeight: 32, MaxHeight: 1944, StepHeight: 2},
						Rates: []RateRange{{Min: 1, Max: 30}}},
				}},
				{Code: 0x3231564E, FourCC: "NV12", Description: "Y/UV 4:2:0", Sizes: []SizeInfo{{Size: SizeRange{}}}},
			},
		},
		{
			Path: "/dev/video3",
			Err:  explainOpenErr(syscall.EBUSY),
		},
		{
			Path: "/dev/video4",
			Err:  explainOpenErr(syscall.EACCES),
		},
		{
			Path: "/dev/video10",
			Name: "Dummy video device (0x0000)",
			Bus:  "platform:v4l2loopback-000",
			Formats: []FormatInfo{
				{Code: PixMJPEG, FourCC: "MJPG", Description: "Motion-JPEG", Sizes: []SizeInfo{
					{Size: DiscreteSize(640, 480)},
				}},
			},
		},
		{
			Path: "/dev/video11",
			Name: "vivid-000-vid-out",
		},
	}
	var b bytes.Buffer
	if err := WriteDeviceList(&b, devs); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "device_list.golden", b.Bytes())
}

func TestWriteDeviceListEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := WriteDeviceList(&b, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "no video devices found (/dev/video*)\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("disk full")
}

func TestWriteDeviceListWriteError(t *testing.T) {
	w := &failWriter{}
	err := WriteDeviceList(w, []DeviceInfo{{Path: "/dev/video0", Err: errors.New("x")}})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the write error", err)
	}
	if w.n != 1 {
		t.Errorf("%d writes after the first failed one, want none", w.n-1)
	}
}

func TestListDevicesNone(t *testing.T) {
	root := t.TempDir()
	devs, err := listDevices(filepath.Join(root, "dev"), filepath.Join(root, "sys"), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 0 {
		t.Fatalf("found %d devices in an empty dir: %+v", len(devs), devs)
	}
}

// TestListDevicesFixture lists a /dev and /sys made of plain files and
// links: every node is listed, in numeric order, with its stable links and
// sysfs name/driver, and the real error of opening a non-device.
func TestListDevicesFixture(t *testing.T) {
	root := t.TempDir()
	dev, sys := filepath.Join(root, "dev"), filepath.Join(root, "sys")
	mk := func(path string, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln := func(target, path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"video10", "video2", "video0"} {
		mk(filepath.Join(dev, n), "")
	}
	ln("../../video2", filepath.Join(dev, "v4l", "by-id", "usb-Fake_Cam_0001-video-index0"))
	ln("../../video2", filepath.Join(dev, "v4l", "by-path", "pci-0000:00:14.0-usb-0:2:1.0-video-index0"))
	ln("../../video9", filepath.Join(dev, "v4l", "by-id", "usb-Gone_Cam-video-index0")) // dangling
	mk(filepath.Join(sys, "class", "video4linux", "video2", "name"), "Fake Cam\n")
	mk(filepath.Join(sys, "bus", "usb", "drivers", "uvcvideo", "bind"), "")
	ln(filepath.Join(sys, "bus", "usb", "drivers", "uvcvideo"), filepath.Join(sys, "class", "video4linux", "video2", "device", "driver"))

	devs, err := listDevices(dev, sys, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if !errors.Is(d.Err, syscall.ENOTTY) {
			t.Errorf("%s: err = %v, want ENOTTY", d.Path, d.Err)
		}
	}
	var b bytes.Buffer
	if err := WriteDeviceList(&b, devs); err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(b.String(), root, "ROOT")
	checkGolden(t, "device_list_fixture.golden", []byte(out))
}

func TestCompareNodes(t *testing.T) {
	got := []string{"/dev/video10", "/dev/videoX", "/dev/video2", "/dev/video0", "/dev/video1"}
	want := []string{"/dev/video0", "/dev/video1", "/dev/video2", "/dev/video10", "/dev/videoX"}
	sortNodes(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("sorted = %v, want %v", got, want)
	}
}

func sortNodes(s []string) { slices.SortFunc(s, compareNodes) }
