package pipeline

import "log/slog"

// Defaults of SourceOptions.
const (
	DefaultWidth  = 1280
	DefaultHeight = 720
	DefaultFPS    = 30.0
)

// SourceOptions configures the synthetic and replay sources (test:, file:,
// pipe:). Zero values mean the defaults: 1280x720 at 30 frames per second.
type SourceOptions struct {
	Width, Height int
	FPS           float64
	// Log receives the source's few log lines; nil discards them.
	Log *slog.Logger
}

// withDefaults returns o with zero fields set to their defaults.
func (o SourceOptions) withDefaults() SourceOptions {
	if o.Width <= 0 {
		o.Width = DefaultWidth
	}
	if o.Height <= 0 {
		o.Height = DefaultHeight
	}
	if o.FPS <= 0 {
		o.FPS = DefaultFPS
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}
