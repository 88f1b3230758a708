package e2e

import (
	"testing"

	"github.com/camrec/camrec/internal/testutil"
)

// probe is what ffprobe says of a video file's first video stream.
type probe = testutil.Video

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	return testutil.Probe(t, requireTool(t, "ffprobe"), path)
}
