package pipeline

import (
	"sync"
	"sync/atomic"
)

// Hub fans the frames of one camera out to its subscribers. Publish never
// blocks: every subscriber has its own bounded queue, and when it is full the
// oldest queued frame is dropped and counted, so a slow consumer sees fewer,
// newer frames and never slows the camera or anyone else.
type Hub struct {
	mu      sync.Mutex                    // serialises Subscribe/Close writes of subs
	subs    atomic.Pointer[[]*Subscriber] // copy-on-write; read without locks by Publish
	latest  atomic.Pointer[Frame]
	clients atomic.Int32
	// clientDrops counts, ever, the frames live-preview clients lost to a
	// full queue (a slow viewer), including those of clients gone since.
	clientDrops atomic.Uint64
	// changed is signalled (without blocking) when a subscriber comes or
	// goes: see SubscribersChanged.
	changed chan struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	h := &Hub{changed: make(chan struct{}, 1)}
	h.subs.Store(&[]*Subscriber{})
	return h
}

// Subscriber is one consumer's bounded queue of frames.
type Subscriber struct {
	hub     *Hub
	ch      chan *Frame
	dropped atomic.Uint64
	closed  atomic.Bool
	client  bool

	// sink, if set, may take frames at Publish's call instead of the
	// queue: see SubscribeClientDirect.
	sink   DirectSink
	mu     sync.Mutex // held while Publish offers to a subscriber with a sink, and by Direct and Close
	direct bool       // under mu: frames go to sink while it takes them
}

// A DirectSink takes a frame at once, in the publisher's goroutine, without
// blocking: a preview client's socket, written without waiting. It
// reports whether it took the whole frame; if not, the hub queues the
// frame (the sink knows how much of it it took) and the subscriber is on
// its queue until its consumer calls Direct again.
type DirectSink interface {
	TryTake(f *Frame) bool
}

// Subscribe adds a subscriber with a queue of the given depth (at least 1).
// The caller must Close it when done.
func (h *Hub) Subscribe(depth int) *Subscriber { return h.subscribe(depth, false, nil) }

// SubscribeClient is Subscribe for a live-preview client: such subscribers
// are counted by Clients.
func (h *Hub) SubscribeClient(depth int) *Subscriber { return h.subscribe(depth, true, nil) }

// SubscribeClientDirect is SubscribeClient for a client that can take
// frames at Publish's call without blocking (sink): once its consumer has
// emptied the queue and called Direct, Publish hands it each frame
// itself, and the consumer's goroutine is not woken while the sink takes
// them whole. That saves a goroutine hand-off per frame and client (make
// bench-peers). Frames go to the queue from the start, again from the
// first frame the sink did not take whole, and from the first frame
// published while the hub has more than MaxDirectClients clients.
func (h *Hub) SubscribeClientDirect(depth int, sink DirectSink) *Subscriber {
	return h.subscribe(depth, true, sink)
}

func (h *Hub) subscribe(depth int, client bool, sink DirectSink) *Subscriber {
	if depth < 1 {
		depth = 1
	}
	s := &Subscriber{hub: h, ch: make(chan *Frame, depth), client: client, sink: sink}
	if client {
		h.clients.Add(1)
	}
	h.mu.Lock()
	old := *h.subs.Load()
	next := make([]*Subscriber, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	h.subs.Store(&next)
	h.mu.Unlock()
	h.signal()
	return s
}

// SubscribersChanged is signalled when a subscriber has come or gone since
// it was last read: a producer that runs only while someone subscribes
// (the restream's encoder) waits on it instead of polling Subscribers. One
// reader only.
func (h *Hub) SubscribersChanged() <-chan struct{} { return h.changed }

func (h *Hub) signal() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// MaxDirectClients is how many live-preview clients a hub hands frames to
// itself at most (see SubscribeClientDirect). With more, every client's
// frames go to its queue, and the clients' goroutines write them on all
// cores at once rather than one after another in the camera's: with 50
// clients at 720p30 in make bench-peers, the camera's goroutine writing
// them all fell behind the camera (560 of 600 frames, p99 100 ms), where
// the queues kept up (600, 60 ms); with 10 it was 0.86x the CPU of the
// queues, at the same latency.
const MaxDirectClients = 10

// Publish hands f to every subscriber and keeps it as the latest frame.
// It never blocks and allocates nothing per subscriber. Only one goroutine
// (the camera's) may publish to a hub.
func (h *Hub) Publish(f *Frame) {
	h.latest.Store(f)
	direct := h.DirectAllowed()
	for _, s := range *h.subs.Load() {
		s.offer(f, direct)
	}
}

// DirectAllowed reports whether Publish hands frames to the subscribers'
// sinks now: while the hub has at most MaxDirectClients clients. A
// consumer above the limit need not call Direct.
func (h *Hub) DirectAllowed() bool { return h.clients.Load() <= MaxDirectClients }

// Latest returns the most recent frame, or nil before the first one.
func (h *Hub) Latest() *Frame { return h.latest.Load() }

// Subscribers returns the number of current subscribers.
func (h *Hub) Subscribers() int { return len(*h.subs.Load()) }

// Clients returns the number of current live-preview subscribers.
func (h *Hub) Clients() int { return int(h.clients.Load()) }

// ClientDrops returns how many frames live-preview clients have lost to a
// full queue since the hub was made.
func (h *Hub) ClientDrops() uint64 { return h.clientDrops.Load() }

func (h *Hub) remove(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.subs.Load()
	next := make([]*Subscriber, 0, len(old))
	for _, o := range old {
		if o != s {
			next = append(next, o)
		}
	}
	h.subs.Store(&next)
	h.signal()
}

// offer hands f to the subscriber's sink if it is direct and direct is
// allowed, else to its queue.
func (s *Subscriber) offer(f *Frame, direct bool) {
	if s.sink != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed.Load() {
			return
		}
		if s.direct {
			if direct && s.sink.TryTake(f) {
				return
			}
			s.direct = false
		}
	}
	select {
	case s.ch <- f:
		return
	default:
	}
	// Full: drop the oldest queued frame to make room for the newest.
	select {
	case <-s.ch:
		s.drop()
	default:
	}
	select {
	case s.ch <- f:
	default:
		// The consumer cannot have added anything (only Publish sends),
		// so this is unreachable; count it rather than block.
		s.drop()
	}
}

// Frames is the subscriber's queue. It is never closed: stop reading when
// your own context ends, then Close.
func (s *Subscriber) Frames() <-chan *Frame { return s.ch }

// Dropped returns how many frames this subscriber lost to a full queue.
func (s *Subscriber) Dropped() uint64 { return s.dropped.Load() }

// Direct makes Publish hand frames to the subscriber's sink from now on,
// if its queue is empty, and reports whether it did. Only the
// subscriber's consumer may call it, when it has nothing of a frame left
// to write: a frame it takes from the queue after that is one the sink did
// not take whole. False without a sink.
func (s *Subscriber) Direct() bool {
	if s.sink == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() || len(s.ch) > 0 {
		return false
	}
	s.direct = true
	return true
}

// Close removes the subscriber from its hub. It is idempotent. Once it
// returns, Publish does not call the subscriber's sink any more.
func (s *Subscriber) Close() {
	if s.closed.CompareAndSwap(false, true) {
		if s.sink != nil {
			// Wait out an offer in progress: it saw closed false.
			s.mu.Lock()
			s.direct = false
			s.mu.Unlock()
		}
		s.hub.remove(s)
		if s.client {
			s.hub.clients.Add(-1)
		}
	}
}

// drop counts a frame s lost to its full queue.
func (s *Subscriber) drop() {
	s.dropped.Add(1)
	if s.client {
		s.hub.clientDrops.Add(1)
	}
}
