package e2e

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"
)

// probe is what ffprobe says of a video file's first video stream.
type probe struct {
	Codec    string
	PixFmt   string
	Width    int
	Height   int
	Duration float64 // seconds, of the container
	Frames   int     // decoded frames (counted)
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	bin := requireTool(t, "ffprobe")
	out, err := exec.Command(bin, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames:format=duration",
		"-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			PixFmt       string `json:"pix_fmt"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v %s", path, err, out)
	}
	s := r.Streams[0]
	p := probe{Codec: s.CodecName, PixFmt: s.PixFmt, Width: s.Width, Height: s.Height}
	p.Duration, _ = strconv.ParseFloat(r.Format.Duration, 64)
	p.Frames, _ = strconv.Atoi(s.NbReadFrames)
	return p
}
