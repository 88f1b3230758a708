// Command authattack measures camrec under the two attacks that need no
// credentials (issue 20), on the test camera over loopback, with the
// camrec binary and, with -baseline, another build in the same run:
//
//	make build && go run ./test/bench/authattack -camrec ./camrec -attack storm
//	go run ./test/bench/authattack -camrec ./camrec -attack slow -baseline /tmp/camrec-before
//
// The storm: 300 guessers send wrong HTTP Basic passwords without pause,
// first all from one address, then each guess from a new address (user
// names half alice, half unknown, so that no per-user lock ends the
// bcrypt work), while 10 preview clients watch 1280x720 at 30 fps and
// three probes ask GET /api/v1/me every 20 ms with a token, a session
// cookie and a Basic password bcrypt accepted before. The guessers run
// in a process of their own at nice 19: they stand for clients elsewhere
// on the network. It prints each probe's p50/p99, the preview frame rate,
// camrec's CPU and the storm's answers, for a quiet window and each storm.
//
// The slow bodies: 3,000 connections from one address each send a
// request's headers with Content-Length: 1000 and one byte of body (POST
// /login, GET /api/v1/me, PUT …/recording, without credentials) and hold
// it, while a client at another address asks GET /api/v1/me with a token
// every 50 ms. It prints camrec's RSS before and at its peak, how many
// slow connections are still open after 5, 12, 20 and 36 s, and the
// legitimate client's latency and errors.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/camrec/camrec/internal/auth"
	"github.com/camrec/camrec/internal/procstat"
)

const (
	user = "alice"
	pass = "alice-bench-password"
)

func main() {
	bin := flag.String("camrec", "./camrec", "camrec binary")
	baseline := flag.String("baseline", "", "another camrec binary (a build before a change), measured after -camrec")
	attack := flag.String("attack", "storm", "storm or slow")
	stormFor := flag.Duration("storm", 20*time.Second, "storm: length of each storm window")
	workers := flag.Int("workers", 300, "storm: concurrent guessers")
	slowN := flag.Int("slow-conns", 3000, "slow: slow connections")
	attacker := flag.String("attacker", "", "internal: run as the storm's guessers (one or many addresses) against -url")
	target := flag.String("url", "", "internal: with -attacker, camrec's URL")
	flag.Parse()
	if *attacker != "" {
		guess(*target, *attacker, *workers, *stormFor)
		return
	}
	bins := []string{*bin}
	if *baseline != "" {
		bins = append(bins, *baseline)
	}
	for _, b := range bins {
		var err error
		switch *attack {
		case "storm":
			err = storm(b, *workers, *stormFor)
		case "slow":
			err = slow(b, *slowN)
		default:
			err = fmt.Errorf("-attack %q: want storm or slow", *attack)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "authattack:", err)
			os.Exit(1)
		}
	}
}

// daemon is a running camrec.
type daemon struct {
	cmd   *exec.Cmd
	url   string
	token string // a viewer token
	dir   string
}

var listening = regexp.MustCompile(`msg=listening url=(http://[^ ]+)/`)

// startCamrec runs bin on the test camera (1280x720 at 30 fps) with user
// alice (bcrypt cost 12, camrec's default) and a viewer token.
func startCamrec(bin string) (*daemon, error) {
	dir, err := os.MkdirTemp("", "authattack")
	if err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), auth.PasswordCost)
	if err != nil {
		return nil, err
	}
	tok, tokHash, err := auth.NewToken()
	if err != nil {
		return nil, err
	}
	body := fmt.Sprintf("users:\n  - {name: %s, password_hash: %q, role: operator}\ntokens:\n  - {name: probe, token_hash: %q, role: viewer}\n", user, hash, tokHash)
	if err := os.WriteFile(dir+"/auth.yaml", []byte(body), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-device", "test:", "-size", "1280x720", "-fps", "30", "-listen", "127.0.0.1:0",
		"-record-dir", dir+"/rec", "-auth-file", dir+"/auth.yaml", "-log-level", "info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = os.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case u := <-found:
		return &daemon{cmd: cmd, url: u, token: tok, dir: dir}, nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("camrec did not listen within 30 s")
	}
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
	os.RemoveAll(d.dir)
}

// clientFrom is an HTTP client whose connections come from addr; keep
// says whether it reuses them.
func clientFrom(addr string, keep bool) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 10 * time.Second}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, DisableKeepAlives: !keep, MaxIdleConnsPerHost: 16},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       60 * time.Second,
	}
}

// latencies collects request latencies.
type latencies struct {
	mu   sync.Mutex
	d    []time.Duration
	errs int
}

func (l *latencies) add(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errs++
		return
	}
	l.d = append(l.d, d)
}

// take returns p50, p99, the count and errors since the last take.
func (l *latencies) take() (p50, p99 time.Duration, n, errs int) {
	l.mu.Lock()
	d, e := l.d, l.errs
	l.d, l.errs = nil, 0
	l.mu.Unlock()
	if len(d) == 0 {
		return 0, 0, 0, e
	}
	slices.Sort(d)
	q := func(f float64) time.Duration { return d[min(len(d)-1, int(math.Ceil(f*float64(len(d))))-1)] }
	return q(0.50), q(0.99), len(d), e
}

// probe asks GET /api/v1/me every interval with set's credentials until
// ctx ends, recording the latency of each 200.
func probe(ctx context.Context, c *http.Client, base string, every time.Duration, set func(*http.Request), l *latencies) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/me", nil)
		set(req)
		start := time.Now()
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if ctx.Err() != nil {
			return
		}
		l.add(time.Since(start), err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watch reads a preview stream, counting parts, until ctx ends.
func watch(ctx context.Context, base, token string, frames *atomic.Int64) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/cameras/cam0/stream.mjpg?token="+token, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return
		}
		io.Copy(io.Discard, p)
		frames.Add(1)
	}
}

// storm runs the storm bench against bin.
func storm(bin string, workers int, stormFor time.Duration) error {
	d, err := startCamrec(bin)
	if err != nil {
		return err
	}
	defer d.stop()
	pid := d.cmd.Process.Pid
	fmt.Printf("\n## storm: %s (pid %d), %d guessers, 10 preview clients at 1280x720 30 fps\n", bin, pid, workers)

	// A session and a Basic password camrec has verified, from 127.0.0.1.
	legit := clientFrom("127.0.0.1", true)
	form := url.Values{"username": {user}, "password": {pass}}.Encode()
	req, _ := http.NewRequest("POST", d.url+"/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := legit.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "camrec_session") {
			session = c
		}
	}
	if session == nil {
		return fmt.Errorf("login: %d, no session cookie", resp.StatusCode)
	}
	warm, _ := http.NewRequest("GET", d.url+"/api/v1/me", nil)
	warm.SetBasicAuth(user, pass)
	if resp, err := legit.Do(warm); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("Basic login: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	frames := make([]atomic.Int64, 10)
	for i := range frames {
		wg.Go(func() { watch(ctx, d.url, d.token, &frames[i]) })
	}
	kinds := []struct {
		name string
		set  func(*http.Request)
		l    latencies
	}{
		{name: "token", set: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+d.token) }},
		{name: "session cookie", set: func(r *http.Request) { r.AddCookie(session) }},
		{name: "Basic (verified before)", set: func(r *http.Request) { r.SetBasicAuth(user, pass) }},
	}
	for i := range kinds {
		k := &kinds[i]
		c := clientFrom("127.0.0.1", true)
		wg.Go(func() { probe(ctx, c, d.url, 20*time.Millisecond, k.set, &k.l) })
	}
	time.Sleep(3 * time.Second) // warm-up

	window := func(name string, dur time.Duration, from string) {
		for i := range kinds {
			kinds[i].l.take()
		}
		f0 := make([]int64, len(frames))
		for i := range frames {
			f0[i] = frames[i].Load()
		}
		cpu0 := procstat.Of(pid)
		start := time.Now()
		var answers string
		if from != "" {
			// The guessers run in a process of their own at the lowest
			// priority: on a machine of 2 cores they stand for clients
			// elsewhere on the network, whose own CPU is not camrec's.
			cmd := exec.Command("nice", "-n", "19", os.Args[0], "-attacker", from, "-url", d.url,
				"-workers", fmt.Sprint(workers), "-storm", dur.String())
			out, err := cmd.Output()
			if err != nil {
				fmt.Fprintln(os.Stderr, "authattack: guessers:", err)
			}
			answers = strings.TrimSpace(string(out))
		} else {
			time.Sleep(dur)
		}
		wall := time.Since(start)
		cpu := procstat.Of(pid) - cpu0
		var fps []float64
		for i := range frames {
			fps = append(fps, float64(frames[i].Load()-f0[i])/wall.Seconds())
		}
		slices.Sort(fps)
		fmt.Printf("\n### %s (%v)\n", name, wall.Round(100*time.Millisecond))
		fmt.Printf("camrec CPU: %.1f%% of one core; preview fps per client: min %.1f, max %.1f\n", 100*cpu.Seconds()/wall.Seconds(), fps[0], fps[len(fps)-1])
		if from != "" {
			fmt.Printf("guesses answered: %s\n", answers)
		}
		fmt.Println("| probe | requests | p50 ms | p99 ms | errors |")
		fmt.Println("|---|---|---|---|---|")
		for i := range kinds {
			p50, p99, n, errs := kinds[i].l.take()
			fmt.Printf("| %s | %d | %.1f | %.1f | %d |\n", kinds[i].name, n, ms(p50), ms(p99), errs)
		}
	}
	window("quiet", 10*time.Second, "")
	window("storm from one address", stormFor, "one")
	window("storm from a new address for every guess", stormFor, "many")
	cancel()
	wg.Wait()
	return nil
}

// guess runs workers guessers against base for dur, from one address
// (127.0.0.2) or from a new one for every guess (127.1.0.0 and on), and
// prints how they were answered.
func guess(base, from string, workers int, dur time.Duration) {
	ctx, stop := context.WithTimeout(context.Background(), dur)
	defer stop()
	answers := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var nextAddr atomic.Uint32
	one := clientFrom("127.0.0.2", false)
	for w := range workers {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				c := one
				if from == "many" {
					a := nextAddr.Add(1)
					c = clientFrom(fmt.Sprintf("127.%d.%d.%d", 1+(a>>16)%200, (a>>8)&255, a&255), false)
				}
				name := user
				if n%2 == 1 {
					name = fmt.Sprintf("nobody%d", w)
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/me", nil)
				req.SetBasicAuth(name, fmt.Sprintf("guess-%d-%d", w, n))
				resp, err := c.Do(req)
				what := "no answer"
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					what = fmt.Sprint(resp.StatusCode)
				} else if ctx.Err() != nil {
					what = "unanswered when the window ended"
				}
				mu.Lock()
				answers[what]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	keys := make([]string, 0, len(answers))
	for k := range answers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, answers[k]))
	}
	fmt.Println(strings.Join(parts, ", "))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// slow runs the slow-body bench against bin.
func slow(bin string, n int) error {
	d, err := startCamrec(bin)
	if err != nil {
		return err
	}
	defer d.stop()
	pid := d.cmd.Process.Pid
	time.Sleep(2 * time.Second)
	rss0, anon0, _ := procstat.Memory(pid)
	fmt.Printf("\n## slow bodies: %s (pid %d), %d connections from 127.0.0.2\n", bin, pid, n)
	fmt.Printf("before: RSS %.1f MB, RssAnon %.1f MB\n", rss0, anon0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var l latencies
	legit := clientFrom("127.0.0.1", true)
	wg.Go(func() {
		probe(ctx, legit, d.url, 50*time.Millisecond, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+d.token) }, &l)
	})

	u, _ := url.Parse(d.url)
	routes := []string{
		"POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
		"GET /api/v1/me HTTP/1.1",
		"PUT /api/v1/cameras/cam0/recording HTTP/1.1\r\nContent-Type: application/json",
	}
	var open, refused, answered, unanswered atomic.Int64
	start := time.Now()
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
	sem := make(chan struct{}, 200) // dials in flight
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			c, err := dialer.DialContext(ctx, "tcp", u.Host)
			<-sem
			if err != nil {
				refused.Add(1)
				return
			}
			defer c.Close()
			head := routes[i%len(routes)] + "\r\nHost: " + u.Host + "\r\nContent-Length: 1000\r\n\r\n{"
			if _, err := io.WriteString(c, head); err != nil {
				refused.Add(1)
				return
			}
			open.Add(1)
			defer open.Add(-1)
			go func() { <-ctx.Done(); c.Close() }()
			// Until camrec (or the end) closes it.
			if n, _ := io.Copy(io.Discard, c); n > 0 {
				answered.Add(1)
			} else if ctx.Err() == nil {
				unanswered.Add(1)
			}
		})
	}
	fmt.Printf("%d connections opened in %v\n", n, time.Since(start).Round(time.Millisecond))
	peak, peakAnon := 0.0, 0.0
	marks := []time.Duration{5 * time.Second, 12 * time.Second, 20 * time.Second, 36 * time.Second}
	tick := time.NewTicker(250 * time.Millisecond)
	for len(marks) > 0 {
		<-tick.C
		rss, anon, _ := procstat.Memory(pid)
		peak, peakAnon = max(peak, rss), max(peakAnon, anon)
		if time.Since(start) >= marks[0] {
			fmt.Printf("after %v: %d slow connections still open, RSS %.1f MB\n", marks[0], open.Load(), rss)
			marks = marks[1:]
		}
	}
	tick.Stop()
	p50, p99, reqs, errs := l.take()
	cancel()
	wg.Wait()
	fmt.Printf("peak: RSS %.1f MB (+%.1f), RssAnon %.1f MB (+%.1f)\n", peak, peak-rss0, peakAnon, peakAnon-anon0)
	fmt.Printf("slow connections: %d answered (an HTTP status) and closed, %d closed without an answer (at accept), %d refused at connect\n",
		answered.Load(), unanswered.Load(), refused.Load())
	fmt.Printf("legitimate client (token, 127.0.0.1, every 50 ms): %d requests, p50 %.1f ms, p99 %.1f ms, %d errors\n", reqs, ms(p50), ms(p99), errs)
	return nil
}
