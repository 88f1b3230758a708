package main

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"os"
	"testing"
	"time"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		line    string
		want    command
		wantErr bool
	}{
		{line: "pause", want: command{verb: "pause"}},
		{line: " resume ", want: command{verb: "resume"}},
		{line: "stop", want: command{verb: "stop"}},
		{line: "play", want: command{verb: "play"}},
		{line: "fps 7.5", want: command{verb: "fps", fps: 7.5}},
		{line: "fps 0", wantErr: true},
		{line: "fps NaN", wantErr: true},
		{line: "fps", wantErr: true},
		{line: "faster", wantErr: true},
		{line: "", wantErr: true},
	}
	for _, tc := range cases {
		got, err := parseCommand(tc.line)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseCommand(%q) = %+v, %v; want %+v, error %v", tc.line, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseFlags(t *testing.T) {
	cases := []struct {
		args    []string
		wantErr bool
	}{
		{args: nil},
		{args: []string{"-size", "1280x720", "-fps", "30", "-frames", "10"}},
		{args: []string{"-size", "640"}, wantErr: true},
		{args: []string{"-size", "0x480"}, wantErr: true},
		{args: []string{"-fps", "0"}, wantErr: true},
		{args: []string{"-distinct", "0"}, wantErr: true},
		{args: []string{"-file", "scene.mjpeg", "-times", "times", "-loop", "15"}},
		{args: []string{"-file", "scene.mjpeg", "-loop", "0"}, wantErr: true},
		{args: []string{"-times", "times"}, wantErr: true},
	}
	for _, tc := range cases {
		_, err := parseFlags(tc.args, io.Discard)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseFlags(%q): error %v, want error %v", tc.args, err, tc.wantErr)
		}
	}
}

// TestScene: a scene loops its first frames until play, plays every frame
// once recording write times, reports its last, then loops its last frames.
func TestScene(t *testing.T) {
	path := t.TempDir() + "/scene.mjpeg"
	var file []byte
	var want [][]byte
	for i := range 5 {
		f := jpegOf(t, i)
		want = append(want, f)
		file = append(file, f...)
	}
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := loadScene(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	index := func(f []byte) int {
		for i, w := range want {
			if bytes.Equal(f, w) {
				return i
			}
		}
		t.Fatalf("frame not from the file")
		return -1
	}
	for range 3 {
		f, last := sc.next(0)
		sc.wrote(time.Now())
		if last {
			t.Fatal("last before play")
		}
		got = append(got, index(f))
	}
	sc.play()
	lasts := 0
	for range 5 + 3 {
		f, last := sc.next(0)
		sc.wrote(time.Unix(0, int64(len(got))))
		if last {
			lasts++
			if len(got) != 7 {
				t.Errorf("last at frame %d of the output, want 7", len(got))
			}
		}
		got = append(got, index(f))
	}
	if fmt.Sprint(got) != "[0 1 0 0 1 2 3 4 3 4 3]" || lasts != 1 {
		t.Errorf("frames %v (%d lasts), want [0 1 0 0 1 2 3 4 3 4 3] and one last", got, lasts)
	}
	if fmt.Sprint(sc.times) != "[3 4 5 6 7]" {
		t.Errorf("times %v, want the write times of the 5 played frames [3 4 5 6 7]", sc.times)
	}
	tp := t.TempDir() + "/times"
	if err := sc.writeTimes(tp); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(tp); string(b) != "0 3\n1 4\n2 5\n3 6\n4 7\n" {
		t.Errorf("times file %q", b)
	}
}

func jpegOf(t *testing.T, i int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	for p := range img.Pix {
		img.Pix[p] = uint8(i * 40)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
