package pipeline

import "context"

// Sink receives what a Source produces. *Camera implements it.
// None of its methods block.
type Sink interface {
	// Negotiated reports the format the source delivers, once per (re)open.
	Negotiated(Format)
	// Frame takes one valid frame. The sink owns it from now on.
	Frame(*Frame)
	// Invalid counts one frame dropped for a missing SOI or EOI.
	Invalid()
}

// Source produces frames. Run opens the source, delivers frames to sink until
// ctx is done (then it returns nil) or the source fails (then it returns an
// error wrapping the cause). Run may be called again after it returned.
type Source interface {
	Run(ctx context.Context, sink Sink) error
}
