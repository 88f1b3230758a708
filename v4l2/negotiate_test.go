package v4l2

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/blackjack/webcam"
)

// fakeCam records the calls negotiation makes, in order.
type fakeCam struct {
	formats  map[webcam.PixelFormat]string
	sizes    []webcam.FrameSize
	rates    map[[2]uint32][]webcam.FrameRate
	setFmtTo webcam.PixelFormat // what S_FMT answers; 0: what was asked
	fpsErr   error
	gotFPS   float32 // what G_PARM answers; 0: an error
	startErr error
	calls    []string
}

func (c *fakeCam) GetSupportedFormats() map[webcam.PixelFormat]string { return c.formats }
func (c *fakeCam) GetSupportedFrameSizes(webcam.PixelFormat) []webcam.FrameSize {
	return c.sizes
}
func (c *fakeCam) GetSupportedFramerates(_ webcam.PixelFormat, w, h uint32) []webcam.FrameRate {
	return c.rates[[2]uint32{w, h}]
}
func (c *fakeCam) SetImageFormat(f webcam.PixelFormat, w, h uint32) (webcam.PixelFormat, uint32, uint32, error) {
	c.calls = append(c.calls, fmt.Sprintf("format %s %dx%d", FourCC(uint32(f)), w, h))
	if c.setFmtTo != 0 {
		return c.setFmtTo, w, h, nil
	}
	return f, w, h, nil
}
func (c *fakeCam) SetBufferCount(n uint32) error {
	c.calls = append(c.calls, fmt.Sprintf("buffers %d", n))
	return nil
}
func (c *fakeCam) SetFramerate(fps float32) error {
	c.calls = append(c.calls, fmt.Sprintf("fps %g", fps))
	return c.fpsErr
}
func (c *fakeCam) GetFramerate() (float32, error) {
	if c.gotFPS == 0 {
		return 0, syscall.ENOTTY
	}
	return c.gotFPS, nil
}
func (c *fakeCam) StartStreaming() error {
	c.calls = append(c.calls, "start")
	return c.startErr
}

func discrete(w, h uint32) webcam.FrameSize {
	return webcam.FrameSize{MinWidth: w, MaxWidth: w, MinHeight: h, MaxHeight: h}
}

func interval(num, den uint32) webcam.FrameRate {
	return webcam.FrameRate{MinNumerator: num, MaxNumerator: num, MinDenominator: den, MaxDenominator: den}
}

func uvcCam() *fakeCam {
	uvc := []webcam.FrameRate{interval(333333, 10000000), interval(666666, 10000000), interval(1000000, 10000000)}
	return &fakeCam{
		formats: map[webcam.PixelFormat]string{
			webcam.PixelFormat(PixMJPEG): "Motion-JPEG",
			webcam.PixelFormat(PixYUYV):  "YUYV 4:2:2",
		},
		sizes: []webcam.FrameSize{discrete(640, 480), discrete(1280, 720), discrete(1920, 1080)},
		rates: map[[2]uint32][]webcam.FrameRate{
			{640, 480}: uvc, {1280, 720}: uvc, {1920, 1080}: {interval(1, 15), interval(1, 5)},
		},
		gotFPS: 30.00003,
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name      string
		cam       func() *fakeCam
		req       Request
		wantCalls string
		wantMode  Mode
		wantErr   string
		wantLeak  bool
		wantLog   string
	}{
		{
			name:      "exact",
			cam:       uvcCam,
			req:       Request{Width: 1280, Height: 720, FPS: 30, Buffers: 4},
			wantCalls: "format MJPG 1280x720, buffers 4, fps 30, start",
			wantMode:  Mode{Format: "mjpeg", FourCC: "MJPG", Width: 1280, Height: 720, FPS: 30},
			wantLog:   "", // nothing to warn about
		},
		{
			name: "nearest size and rate",
			cam: func() *fakeCam {
				c := uvcCam()
				c.gotFPS = 15
				return c
			},
			req:       Request{Width: 1920, Height: 1200, FPS: 25, Buffers: 2},
			wantCalls: "format MJPG 1920x1080, buffers 2, fps 15, start",
			wantMode:  Mode{Format: "mjpeg", FourCC: "MJPG", Width: 1920, Height: 1080, FPS: 15},
			wantLog:   `level=WARN msg="camera does not offer the size asked for; using the nearest" asked_width=1920 asked_height=1200 width=1920 height=1080 fourcc=MJPG`,
		},
		{
			name: "rate refused, driver default kept",
			cam: func() *fakeCam {
				c := uvcCam()
				c.fpsErr = syscall.EINVAL
				c.gotFPS = 10
				return c
			},
			req:       Request{Width: 640, Height: 480, FPS: 30, Buffers: 4},
			wantCalls: "format MJPG 640x480, buffers 4, fps 30, start",
			wantMode:  Mode{Format: "mjpeg", FourCC: "MJPG", Width: 640, Height: 480, FPS: 10},
			wantLog:   `level=WARN msg="camera refused frame rate; using its default" fps=30 error="invalid argument"`,
		},
		{
			name: "no rates listed, none readable",
			cam: func() *fakeCam {
				c := uvcCam()
				c.rates = nil
				c.gotFPS = 0
				return c
			},
			req:       Request{Width: 640, Height: 480, FPS: 25, Buffers: 4},
			wantCalls: "format MJPG 640x480, buffers 4, fps 25, start",
			wantMode:  Mode{Format: "mjpeg", FourCC: "MJPG", Width: 640, Height: 480, FPS: 0},
		},
		{
			name: "no sizes listed",
			cam: func() *fakeCam {
				c := uvcCam()
				c.sizes = nil
				return c
			},
			req:       Request{Buffers: 4},
			wantCalls: "format MJPG 640x480, buffers 4, fps 30, start",
			wantMode:  Mode{Format: "mjpeg", FourCC: "MJPG", Width: 640, Height: 480, FPS: 30},
		},
		{
			name: "no MJPEG listed",
			cam: func() *fakeCam {
				c := uvcCam()
				delete(c.formats, webcam.PixelFormat(PixMJPEG))
				return c
			},
			req:     Request{Format: FormatMJPEG, Width: 640, Height: 480, Buffers: 4},
			wantErr: "camera /dev/video0 offers no MJPEG (offers: YUYV 4:2:2); use format auto or yuyv",
		},
		{
			name: "auto takes YUYV when no MJPEG is listed",
			cam: func() *fakeCam {
				c := uvcCam()
				delete(c.formats, webcam.PixelFormat(PixMJPEG))
				return c
			},
			req:       Request{Width: 640, Height: 480, FPS: 30, Buffers: 4},
			wantCalls: "format YUYV 640x480, buffers 4, fps 30, start",
			wantMode:  Mode{Format: "yuyv", FourCC: "YUYV", Width: 640, Height: 480, Stride: 1280, FPS: 30},
		},
		{
			name:      "auto prefers MJPEG",
			cam:       uvcCam,
			req:       Request{Format: FormatAuto, Width: 640, Height: 480, FPS: 30, Buffers: 4},
			wantCalls: "format MJPG 640x480, buffers 4, fps 30, start",
			wantMode:  Mode{Format: "mjpeg", FourCC: "MJPG", Width: 640, Height: 480, FPS: 30},
		},
		{
			name:      "yuyv forced on a camera with both",
			cam:       uvcCam,
			req:       Request{Format: FormatYUYV, Width: 640, Height: 480, FPS: 30, Buffers: 4},
			wantCalls: "format YUYV 640x480, buffers 4, fps 30, start",
			wantMode:  Mode{Format: "yuyv", FourCC: "YUYV", Width: 640, Height: 480, Stride: 1280, FPS: 30},
		},
		{
			name: "yuyv asked, not offered",
			cam: func() *fakeCam {
				c := uvcCam()
				delete(c.formats, webcam.PixelFormat(PixYUYV))
				return c
			},
			req:     Request{Format: FormatYUYV, Width: 640, Height: 480, Buffers: 4},
			wantErr: "camera /dev/video0 offers no YUYV (offers: MJPG (Motion-JPEG))",
		},
		{
			name:    "unknown format",
			cam:     uvcCam,
			req:     Request{Format: "h265"},
			wantErr: `unknown format "h265" (want auto, mjpeg, yuyv or h264)`,
		},
		{
			name:    "h264 asked, not offered",
			cam:     uvcCam,
			req:     Request{Format: FormatH264, Width: 640, Height: 480, Buffers: 4},
			wantErr: "camera /dev/video0 offers no H264 (offers: MJPG (Motion-JPEG), YUYV 4:2:2)",
		},
		{
			name: "h264 asked and offered; auto still prefers MJPEG",
			cam: func() *fakeCam {
				c := uvcCam()
				c.formats[webcam.PixelFormat(PixH264)] = "H.264"
				return c
			},
			req:       Request{Format: FormatH264, Width: 1280, Height: 720, FPS: 30, Buffers: 4},
			wantCalls: "format H264 1280x720, buffers 4, fps 30, start",
			wantMode:  Mode{Format: "h264", FourCC: "H264", Width: 1280, Height: 720, FPS: 30},
		},
		{
			name: "auto for a copied recording prefers H.264",
			cam: func() *fakeCam {
				c := uvcCam()
				c.formats[webcam.PixelFormat(PixH264)] = "H.264"
				return c
			},
			req:       Request{Format: FormatAutoH264, Width: 1280, Height: 720, FPS: 30, Buffers: 4},
			wantCalls: "format H264 1280x720, buffers 4, fps 30, start",
			wantMode:  Mode{Format: "h264", FourCC: "H264", Width: 1280, Height: 720, FPS: 30},
		},
		{
			name:      "auto for a copied recording takes MJPEG without H.264",
			cam:       uvcCam,
			req:       Request{Format: FormatAutoH264, Width: 640, Height: 480, FPS: 30, Buffers: 4},
			wantCalls: "format MJPG 640x480, buffers 4, fps 30, start",
			wantMode:  Mode{Format: "mjpeg", FourCC: "MJPG", Width: 640, Height: 480, FPS: 30},
		},
		{
			name: "auto for a copied recording: neither H.264 nor MJPEG",
			cam: func() *fakeCam {
				c := uvcCam()
				delete(c.formats, webcam.PixelFormat(PixMJPEG))
				return c
			},
			req:     Request{Format: FormatAutoH264, Width: 640, Height: 480, Buffers: 4},
			wantErr: "offers no H264 or MJPEG (the recording copies the camera's stream)",
		},
		{
			name: "driver swaps MJPEG for YUYV (vivid)",
			cam: func() *fakeCam {
				c := uvcCam()
				c.setFmtTo = webcam.PixelFormat(PixYUYV)
				return c
			},
			req:       Request{Width: 640, Height: 480, Buffers: 4},
			wantCalls: "format MJPG 640x480",
			wantErr:   "offers no MJPEG",
		},
		{
			name: "STREAMON fails after mapping",
			cam: func() *fakeCam {
				c := uvcCam()
				c.startErr = errors.New("Failed to start streaming: invalid argument")
				return c
			},
			req:       Request{Width: 640, Height: 480, FPS: 30, Buffers: 4},
			wantCalls: "format MJPG 640x480, buffers 4, fps 30, start",
			wantErr:   "camera /dev/video0: start streaming: Failed to start streaming: invalid argument",
			wantLeak:  true,
		},
		{
			name: "REQBUFS fails, nothing mapped",
			cam: func() *fakeCam {
				c := uvcCam()
				c.startErr = errors.New("Failed to map request buffers: device or resource busy")
				return c
			},
			req:       Request{Width: 640, Height: 480, FPS: 30, Buffers: 4},
			wantCalls: "format MJPG 640x480, buffers 4, fps 30, start",
			wantErr:   "device or resource busy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cam := tt.cam()
			var logBuf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logBuf, nil))
			d := &Device{path: "/dev/video0"}
			leaked, err := d.negotiate(cam, tt.req, log)
			if calls := strings.Join(cam.calls, ", "); tt.wantCalls != "" && calls != tt.wantCalls {
				t.Errorf("calls = %q, want %q", calls, tt.wantCalls)
			}
			if leaked != tt.wantLeak {
				t.Errorf("leaked = %v, want %v", leaked, tt.wantLeak)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(tt.wantErr, "no MJPEG") && !errors.Is(err, ErrNoMJPEG) {
					t.Errorf("err does not wrap ErrNoMJPEG")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Negotiated(); got != tt.wantMode {
				t.Errorf("mode = %+v, want %+v", got, tt.wantMode)
			}
			if !strings.Contains(logBuf.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logBuf.String())
			}
		})
	}
}
