package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/pipeline"
)

// tcpPair returns both ends of a loopback TCP connection, with socket
// buffers small enough that a large part cannot be taken at once (and not
// so small that delayed acknowledgements make the reads crawl).
func tcpPair(t *testing.T) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	client, server = c.(*net.TCPConn), s.(*net.TCPConn)
	t.Cleanup(func() { client.Close(); server.Close() })
	if err := client.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := server.SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	return server, client
}

// TestPartWriterFinishesWhatTheSocketDidNotTake: a part the camera's
// goroutine could write only in part (the client reads too slowly) is
// finished by the stream's goroutine before the next part, even when its
// frame was dropped from the queue meanwhile; the client reads whole
// parts, in order.
func TestPartWriterFinishesWhatTheSocketDidNotTake(t *testing.T) {
	big := encodeJPEG(t, 1280, 720, true)
	frame := func(seq uint64) *pipeline.Frame {
		now := time.Now()
		return &pipeline.Frame{Data: mjpeg.WithComment(big, mjpeg.FormatCamrecComment(seq, now.UnixNano())), Seq: seq, Time: now}
	}
	server, client := tcpPair(t)
	p := newPartWriter(server, nil, nil, 10*time.Second)
	if p.raw == nil {
		t.Fatal("no raw connection")
	}
	if _, err := server.Write([]byte("--" + streamBoundary + "\r\n")); err != nil {
		t.Fatal(err)
	}
	f1, f2, f3 := frame(1), frame(2), frame(3)
	// Nobody reads yet: the socket takes a little of f1's part.
	if p.TryTake(f1) {
		t.Fatalf("a %d KB part was taken whole by a socket nobody reads", len(big)/1000)
	}
	if p.partial != f1 || p.partialDone <= 0 || p.err != nil {
		t.Fatalf("after a partial write: partial %v, %d bytes done, err %v", p.partial == f1, p.partialDone, p.err)
	}
	t.Logf("the socket took %d KB of a %d KB part", p.partialDone/1000, len(f1.Data)/1000)
	// The queue dropped f1 and holds f2 (and f2 again: the latest frame
	// may be queued twice): the stream's goroutine writes the rest of f1,
	// then f2, once, while the client reads.
	got := make(chan []uint64, 1)
	go func() {
		var seqs []uint64
		defer func() { got <- seqs }()
		s := &streamReader{t: t, mr: multipart.NewReader(bufio.NewReader(client), streamBoundary)}
		for {
			data, err := s.next()
			if err != nil {
				return
			}
			seq, _ := frameSeq(t, data)
			seqs = append(seqs, seq)
		}
	}()
	for _, f := range []*pipeline.Frame{f2, f2} {
		if err := p.write(f); err != nil {
			t.Fatal(err)
		}
	}
	// Back in the camera's goroutine: a part it cannot finish at once
	// again, or (the client reads now) all of it.
	p.TryTake(f3)
	if err := p.write(f3); err != nil { // the queue's f3 (done already, or finishes it)
		t.Fatal(err)
	}
	if p.sent != 3 {
		t.Errorf("%d parts sent, want 3", p.sent)
	}
	server.CloseWrite()
	if seqs := <-got; len(seqs) != 3 || seqs[0] != 1 || seqs[1] != 2 || seqs[2] != 3 {
		t.Errorf("the client read frames %v, want [1 2 3], whole", seqs)
	}
}

// TestPartWriterClientGone: once the client has gone, TryTake gives up
// and the stream's goroutine gets the error.
func TestPartWriterClientGone(t *testing.T) {
	server, client := tcpPair(t)
	p := newPartWriter(server, nil, nil, 10*time.Second)
	client.Close()
	small := encodeJPEG(t, 320, 240, false)
	frames := []*pipeline.Frame{{Data: small}, {Data: small}} // two: the last written is not written again
	var i int
	for ; i < 1000 && p.TryTake(frames[i%2]); i++ {
	}
	if i == 1000 {
		t.Fatal("a closed client's socket took 1000 parts")
	}
	err := p.write(frames[i%2])
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("write after the client left: %v", err)
	}
	t.Logf("TryTake gave up after %d parts; then: %v", i, err)
}

// TestPartWriterTryTakeAllocatesNothing: the camera's goroutine writes
// every client's parts, so a part must cost it no allocation.
func TestPartWriterTryTakeAllocatesNothing(t *testing.T) {
	server, client := tcpPair(t)
	go io.Copy(io.Discard, client) // ends when tcpPair's cleanup closes it
	p := newPartWriter(server, nil, nil, 10*time.Second)
	small := encodeJPEG(t, 320, 240, false)
	now := time.Now()
	frames := []*pipeline.Frame{{Data: small, Time: now}, {Data: small, Time: now}}
	var i, refused int
	allocs := testing.AllocsPerRun(200, func() {
		i++
		if !p.TryTake(frames[i%2]) {
			refused++
			if err := p.write(frames[i%2]); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations a part (%d of %d parts not taken at once)", allocs, refused, i)
	}
}

// TestStreamAcrossTheDirectLimit: clients read whole, increasing frames
// while their number goes above pipeline.MaxDirectClients (every frame
// then goes through the queues) and back under it (the camera's goroutine
// writes again), each stream handed between the two goroutines.
func TestStreamAcrossTheDirectLimit(t *testing.T) {
	e := newEnv(t, envConfig{})
	url := e.url + "/api/v1/cameras/cam1/stream.mjpg"
	streams := make([]*streamReader, pipeline.MaxDirectClients+2)
	prev := make([]uint64, len(streams))
	read := func(phase string, ss []*streamReader) {
		t.Helper()
		for k := range 15 {
			for i, s := range ss {
				data, err := s.next()
				if err != nil {
					t.Fatalf("%s: client %d, part %d: %v", phase, i, k, err)
				}
				seq, _ := frameSeq(t, data)
				if seq <= prev[i] && prev[i] != 0 {
					t.Fatalf("%s: client %d: frame %d after frame %d", phase, i, seq, prev[i])
				}
				prev[i] = seq
			}
		}
	}
	for i := range streams {
		streams[i] = openStream(t, e.client, url)
	}
	e.awaitClients("cam1", len(streams))
	read(fmt.Sprintf("%d clients", len(streams)), streams)

	for _, s := range streams[pipeline.MaxDirectClients:] {
		s.close()
	}
	e.awaitClients("cam1", pipeline.MaxDirectClients)
	read(fmt.Sprintf("%d clients", pipeline.MaxDirectClients), streams[:pipeline.MaxDirectClients])
	for _, s := range streams[:pipeline.MaxDirectClients] {
		s.close()
	}
	e.awaitClients("cam1", 0)
}
