package pipeline

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestHubDeliversInOrderToEverySubscriber(t *testing.T) {
	h := NewHub()
	a, b := h.Subscribe(100), h.Subscribe(100)
	defer a.Close()
	defer b.Close()
	for i := range 50 {
		h.Publish(&Frame{Seq: uint64(i)})
	}
	for _, s := range []*Subscriber{a, b} {
		for i := range 50 {
			f := <-s.Frames()
			if f.Seq != uint64(i) {
				t.Fatalf("got seq %d, want %d", f.Seq, i)
			}
		}
		if s.Dropped() != 0 {
			t.Fatalf("dropped %d, want 0", s.Dropped())
		}
	}
	if got := h.Latest().Seq; got != 49 {
		t.Fatalf("latest seq %d, want 49", got)
	}
}

func TestHubSlowSubscriberDropsOldestAndNeverBlocks(t *testing.T) {
	tests := []struct {
		depth, published int
	}{
		{1, 10}, {2, 100}, {5, 5}, {5, 1000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("depth%d_n%d", tt.depth, tt.published), func(t *testing.T) {
			h := NewHub()
			slow := h.Subscribe(tt.depth)
			defer slow.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range tt.published {
					h.Publish(&Frame{Seq: uint64(i)})
				}
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Publish blocked on a subscriber that never reads")
			}
			kept := min(tt.depth, tt.published)
			if got, want := slow.Dropped(), uint64(tt.published-kept); got != want {
				t.Fatalf("dropped %d, want %d", got, want)
			}
			// The queue holds the newest frames, oldest first.
			for i := tt.published - kept; i < tt.published; i++ {
				if f := <-slow.Frames(); f.Seq != uint64(i) {
					t.Fatalf("queued seq %d, want %d", f.Seq, i)
				}
			}
		})
	}
}

func TestHubCloseRemovesSubscriber(t *testing.T) {
	h := NewHub()
	rec := h.Subscribe(4)
	c1, c2 := h.SubscribeClient(2), h.SubscribeClient(2)
	if h.Subscribers() != 3 || h.Clients() != 2 {
		t.Fatalf("subscribers %d clients %d, want 3 and 2", h.Subscribers(), h.Clients())
	}
	c1.Close()
	c1.Close() // idempotent
	if h.Subscribers() != 2 || h.Clients() != 1 {
		t.Fatalf("after close: subscribers %d clients %d, want 2 and 1", h.Subscribers(), h.Clients())
	}
	h.Publish(&Frame{Seq: 7})
	if len(c1.Frames()) != 0 {
		t.Fatal("closed subscriber still receives frames")
	}
	if (<-c2.Frames()).Seq != 7 || (<-rec.Frames()).Seq != 7 {
		t.Fatal("remaining subscribers did not get the frame")
	}
	c2.Close()
	rec.Close()
	if h.Subscribers() != 0 || h.Clients() != 0 {
		t.Fatalf("subscribers %d clients %d, want 0", h.Subscribers(), h.Clients())
	}
}

func TestHubConcurrentSubscribeWhilePublishing(t *testing.T) {
	h := NewHub()
	stop := make(chan struct{})
	var pub, subs sync.WaitGroup
	pub.Add(1)
	go func() {
		defer pub.Done()
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
				h.Publish(&Frame{Seq: i})
			}
		}
	}()
	for range 4 {
		subs.Add(1)
		go func() {
			defer subs.Done()
			for range 200 {
				s := h.SubscribeClient(2)
				last := <-s.Frames()
				next := <-s.Frames()
				if next.Seq <= last.Seq {
					t.Errorf("frames out of order: %d after %d", next.Seq, last.Seq)
				}
				s.Close()
			}
		}()
	}
	subs.Wait()
	close(stop)
	pub.Wait()
	if h.Subscribers() != 0 || h.Clients() != 0 {
		t.Fatalf("subscribers %d clients %d left, want 0", h.Subscribers(), h.Clients())
	}
}

// BenchmarkHubPublish measures one Publish of a 1280x720-sized frame to N
// subscribers that keep up (each drains its queue between publishes).
func BenchmarkHubPublish(b *testing.B) {
	data := make([]byte, 150_000) // a typical 1280x720 MJPEG frame
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h := NewHub()
			subs := make([]*Subscriber, n)
			for i := range subs {
				subs[i] = h.SubscribeClient(2)
			}
			f := &Frame{Data: data, Time: time.Now()}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.Publish(f)
				if i%2 == 1 { // drain every other publish: queues stay non-full, like live clients
					for _, s := range subs {
						<-s.Frames()
						<-s.Frames()
					}
				}
			}
			b.StopTimer()
			for _, s := range subs {
				s.Close()
			}
		})
	}
}

// BenchmarkHubPublishSlowSubscribers: every subscriber's queue is full, so
// each publish drops the oldest frame for each of them.
func BenchmarkHubPublishSlowSubscribers(b *testing.B) {
	data := make([]byte, 150_000)
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h := NewHub()
			for range n {
				h.SubscribeClient(2)
			}
			f := &Frame{Data: data}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.Publish(f)
			}
		})
	}
}

// TestHubCountsClientDrops: frames a preview client loses to its full queue
// are counted by the hub, and stay counted after the client leaves; an
// internal subscriber's (the recorder's) are not preview drops.
func TestHubCountsClientDrops(t *testing.T) {
	h := NewHub()
	client := h.SubscribeClient(1)
	internal := h.Subscribe(1)
	for i := range 4 {
		h.Publish(&Frame{Seq: uint64(i)})
	}
	if client.Dropped() != 3 || internal.Dropped() != 3 {
		t.Fatalf("dropped: client %d, internal %d; want 3 each", client.Dropped(), internal.Dropped())
	}
	client.Close()
	internal.Close()
	if got := h.ClientDrops(); got != 3 {
		t.Errorf("hub counts %d preview drops, want 3 (the client's only)", got)
	}
}

// takeSink is a DirectSink that takes frames while take says so, and logs
// what it took.
type takeSink struct {
	take  func(*Frame) bool
	mu    *sync.Mutex
	log   *[]uint64 // frames the consumer has, in the order it got them
	calls int
}

func (s *takeSink) TryTake(f *Frame) bool {
	s.calls++
	if !s.take(f) {
		return false
	}
	s.mu.Lock()
	*s.log = append(*s.log, f.Seq)
	s.mu.Unlock()
	return true
}

func TestHubDirectSink(t *testing.T) {
	var mu sync.Mutex
	var log []uint64
	takes := true
	sink := &takeSink{take: func(*Frame) bool { return takes }, mu: &mu, log: &log}
	h := NewHub()
	s := h.SubscribeClientDirect(4, sink)
	defer s.Close()

	h.Publish(&Frame{Seq: 0})
	if sink.calls != 0 || len(s.Frames()) != 1 {
		t.Fatalf("before Direct: %d calls to the sink, %d frames queued; want 0 and 1", sink.calls, len(s.Frames()))
	}
	if s.Direct() {
		t.Fatal("Direct with a frame queued: want false")
	}
	<-s.Frames()
	if !s.Direct() {
		t.Fatal("Direct with an empty queue: want true")
	}
	h.Publish(&Frame{Seq: 1})
	h.Publish(&Frame{Seq: 2})
	if sink.calls != 2 || len(s.Frames()) != 0 || len(log) != 2 {
		t.Fatalf("direct: %d calls, %d queued, %d taken; want 2, 0, 2", sink.calls, len(s.Frames()), len(log))
	}
	takes = false
	h.Publish(&Frame{Seq: 3}) // not taken: queued, and the queue from now on
	takes = true
	h.Publish(&Frame{Seq: 4})
	if sink.calls != 3 || len(s.Frames()) != 2 {
		t.Fatalf("after a refusal: %d calls, %d queued; want 3 and 2", sink.calls, len(s.Frames()))
	}
	for _, want := range []uint64{3, 4} {
		if f := <-s.Frames(); f.Seq != want {
			t.Fatalf("queued frame %d, want %d", f.Seq, want)
		}
	}
	if c := h.Clients(); c != 1 {
		t.Errorf("%d clients, want 1", c)
	}
	s.Direct()
	s.Close()
	h.Publish(&Frame{Seq: 5})
	if sink.calls != 3 || len(s.Frames()) != 0 || s.Direct() || h.Clients() != 0 {
		t.Errorf("after Close: %d calls, %d queued, Direct true or %d clients", sink.calls, len(s.Frames()), h.Clients())
	}
}

// TestHubDirectSinkClientLimit: with more than MaxDirectClients clients,
// Publish queues every client's frame, direct or not, and hands the
// subscribers to their queues; with one fewer, the sinks take them again
// once their consumers call Direct.
func TestHubDirectSinkClientLimit(t *testing.T) {
	var mu sync.Mutex
	var log []uint64
	sink := &takeSink{take: func(*Frame) bool { return true }, mu: &mu, log: &log}
	h := NewHub()
	subs := make([]*Subscriber, MaxDirectClients+1)
	for i := range subs {
		subs[i] = h.SubscribeClientDirect(4, sink)
		defer subs[i].Close()
		if !subs[i].Direct() {
			t.Fatalf("subscriber %d: Direct false with an empty queue", i)
		}
	}
	h.Publish(&Frame{Seq: 0})
	for i, s := range subs {
		if n := len(s.Frames()); n != 1 {
			t.Fatalf("%d clients: subscriber %d has %d frames queued, want 1", len(subs), i, n)
		}
		<-s.Frames()
	}
	if sink.calls != 0 {
		t.Fatalf("%d clients: %d calls to the sinks, want 0", len(subs), sink.calls)
	}

	// Back under the limit: each subscriber stays on its queue until its
	// consumer, done with what it took from there, calls Direct.
	subs[0].Close()
	h.Publish(&Frame{Seq: 1})
	for i, s := range subs[1:] {
		if n := len(s.Frames()); n != 1 {
			t.Fatalf("before Direct: subscriber %d has %d frames queued, want 1", i+1, n)
		}
		<-s.Frames()
		if !s.Direct() {
			t.Fatal("Direct false with an empty queue")
		}
	}
	if sink.calls != 0 {
		t.Fatalf("before Direct: %d calls to the sinks, want 0", sink.calls)
	}
	h.Publish(&Frame{Seq: 2})
	for i, s := range subs[1:] {
		if n := len(s.Frames()); n != 0 {
			t.Fatalf("%d clients: subscriber %d has %d frames queued, want 0", MaxDirectClients, i+1, n)
		}
	}
	if sink.calls != MaxDirectClients {
		t.Fatalf("%d clients: %d calls to the sinks, want %d", MaxDirectClients, sink.calls, MaxDirectClients)
	}
}

// TestHubDirectSinkHandsOver: a publisher and a consumer that switches back
// to the sink whenever its queue is empty; the sink refuses one frame in
// three. Every frame reaches the consumer once, in order, whichever way it
// went: the queue and the sink never overtake each other (which on a
// socket would interleave two parts).
func TestHubDirectSinkHandsOver(t *testing.T) {
	const n = 3000
	var mu sync.Mutex
	var log []uint64
	sink := &takeSink{take: func(f *Frame) bool { return f.Seq%3 != 0 }, mu: &mu, log: &log}
	h := NewHub()
	s := h.SubscribeClientDirect(n, sink) // deep enough to drop nothing
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			h.Publish(&Frame{Seq: uint64(i)})
		}
	}()
	got := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(log)
	}
	deadline := time.After(30 * time.Second)
	for got() < n {
		select {
		case f := <-s.Frames():
			mu.Lock()
			log = append(log, f.Seq)
			mu.Unlock()
			s.Direct()
		case <-published:
			published = nil // what the sink did not take is queued now
		case <-deadline:
			t.Fatalf("got %d of %d frames", got(), n)
		}
	}
	s.Close()
	for i, seq := range log {
		if seq != uint64(i) {
			t.Fatalf("frame %d is %d (from %v)", i, seq, log[max(0, i-3):i+1])
		}
	}
	if d := s.Dropped(); d != 0 {
		t.Errorf("%d dropped, want 0", d)
	}
}
