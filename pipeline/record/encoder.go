// This file holds the encoder: one ffmpeg process writing one file, how it
// is started and the one way it is stopped (end), and the seam through
// which the recorder starts one (ffmpeg in production; a process-less
// encoder in the tests that run on virtual time).

package record

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/camrec/camrec/internal/procstat"
)

// encoder is one encoder process writing one file. Frames go into in;
// after in is closed it finishes the file by itself and exits.
type encoder struct {
	out      string // the file it writes
	in       io.WriteCloser
	tail     *tailWriter   // its stderr: ready at its first line; the last lines
	exited   chan struct{} // closed when it has exited
	exitErr  error         // how it exited; read after exited
	pid      int
	signal   func(syscall.Signal) // to its process group
	launched time.Time
}

// encoders starts the encoder writing one file: args are ffmpeg's
// arguments, whose last one is path.
type encoders interface {
	start(path string, args []string) (*encoder, error)
}

// ffmpegEncoders runs the ffmpeg at path.
type ffmpegEncoders struct{ path string }

func (e ffmpegEncoders) start(path string, args []string) (*encoder, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	// The default 64 KiB is smaller than one 1080p JPEG; a failure only
	// costs more wake-ups.
	_ = setPipeSize(pw, pipeSize)
	tail := newTailWriter()
	cmd := exec.Command(e.path, args...)
	cmd.Stdin = pr
	cmd.Stderr = tail
	// Own process group: Ctrl-C or systemd's SIGTERM to camrec must not
	// reach ffmpeg before camrec has closed its stdin. If camrec dies
	// (kill -9), the kernel closes its end of the pipe: ffmpeg reads EOF
	// and finishes the file, then exits.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = killGrace
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("run %s: %w", e.path, err)
	}
	pr.Close() // ffmpeg has its copy
	pid := cmd.Process.Pid
	enc := &encoder{out: path, in: pw, tail: tail, exited: make(chan struct{}), pid: pid, launched: time.Now(),
		signal: func(sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }}
	go func() {
		enc.exitErr = cmd.Wait()
		close(enc.exited)
	}()
	return enc, nil
}

func setPipeSize(f *os.File, size int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, size)
	}); err != nil {
		return err
	}
	return serr
}

// end is the one way an ffmpeg of camrec's is stopped: it closes its stdin
// (ffmpeg then finishes the file by itself) and waits for the process to
// exit until deadline, or, with a patience, until patience after its last
// sign of work (see work) if that is later: an ffmpeg working through a
// backlog of frames (slower than the camera) is not interrupted, one that
// makes no progress is, and at worst maxStopWait after the deadline. Past it, when interrupt is set, it sends SIGINT and waits
// killGrace more; then SIGKILL. It returns why it had to escalate, ""
// when ffmpeg ended by itself in time.
func (e *encoder) end(deadline time.Time, patience time.Duration, interrupt bool, log *slog.Logger) string {
	e.in.Close()
	var poll <-chan time.Time
	if patience > 0 {
		t := time.NewTicker(progressPoll)
		defer t.Stop()
		poll = t.C
	}
	// The first poll takes the measure: what ffmpeg did as its input
	// closed is no sign of later progress; a change from poll to poll is.
	work, polled := int64(0), false
	hardDeadline := deadline.Add(maxStopWait)
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for waiting := true; waiting; {
		select {
		case <-e.exited:
			return ""
		case now := <-poll:
			n := e.work()
			if polled && n != work {
				d := now.Add(patience)
				if d.After(hardDeadline) {
					d = hardDeadline
				}
				if d.After(deadline) {
					deadline = d
					timer.Reset(time.Until(deadline))
				}
			}
			work, polled = n, true
		case <-timer.C:
			waiting = false
		}
	}
	why := fmt.Sprintf("ffmpeg did not finish within %s", stopDeadline)
	if patience > 0 {
		why = fmt.Sprintf("ffmpeg did not finish within %s of its last progress", patience)
	}
	if interrupt {
		log.Warn(why + ", sending SIGINT")
		e.signal(syscall.SIGINT)
		select {
		case <-e.exited:
			return why
		case <-time.After(killGrace):
		}
		log.Warn("ffmpeg ignored SIGINT, killing it")
	}
	e.signal(syscall.SIGKILL)
	<-e.exited
	return why
}

// work measures what the encoder has done so far: its file's size plus
// the CPU time its process has used (procstat.Of: /proc/<pid>/stat). Either moves while ffmpeg works through a backlog: a
// slow machine may encode for seconds before an MP4 fragment (a second of
// video) is written. A stuck ffmpeg (blocked, deadlocked) moves neither.
func (e *encoder) work() int64 {
	var n int64
	if st, err := os.Stat(e.out); err == nil {
		n = st.Size()
	}
	return n + int64(procstat.Of(e.pid))
}
