// This file holds the catalogue's reading of a video file with ffprobe.

package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// probeResult is what ffprobe tells about a recording.
type probeResult struct {
	DurationS float64
	Codec     string
	Width     int
	Height    int
}

// ffprobe reads duration, codec and size of the first video stream of path.
func ffprobe(ctx context.Context, ffprobePath, path string) (probeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffprobePath, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "format=duration:stream=codec_name,width,height,duration", "-of", "json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return probeResult{}, fmt.Errorf("ffprobe %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var doc struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			Duration  string `json:"duration"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return probeResult{}, fmt.Errorf("ffprobe %s: decode output: %w", path, err)
	}
	if len(doc.Streams) == 0 {
		return probeResult{}, fmt.Errorf("ffprobe %s: no video stream", path)
	}
	s := doc.Streams[0]
	r := probeResult{Codec: s.CodecName, Width: s.Width, Height: s.Height}
	if d, err := strconv.ParseFloat(doc.Format.Duration, 64); err == nil {
		r.DurationS = d
	} else if d, err := strconv.ParseFloat(s.Duration, 64); err == nil {
		r.DurationS = d
	}
	return r, nil
}

// ProbeDuration returns the duration ffprobe reads in path, or 0 when the
// catalogue has no ffprobe or ffprobe cannot tell.
func (c *Catalog) ProbeDuration(ctx context.Context, path string) float64 {
	if c.ffprobe == "" {
		return 0
	}
	p, err := ffprobe(ctx, c.ffprobe, path)
	if err != nil {
		return 0
	}
	return p.DurationS
}
