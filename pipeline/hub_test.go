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
