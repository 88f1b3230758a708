package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/camrec/camrec/internal/auth"
	"github.com/camrec/camrec/internal/config"
	"github.com/camrec/camrec/internal/tlsreload"
)

// errConfig marks start-up errors in what the user configured (exit 2).
var errConfig = errors.New("configuration")

// security is the auth and TLS the daemon runs with.
type security struct {
	auth *auth.Authenticator // nil: auth off
	tls  *tlsreload.Reloader // nil: plain HTTP
}

func newSecurity(cfg *config.Config, log *slog.Logger) (*security, error) {
	var s security
	if cfg.Security.Enabled() {
		a, err := auth.New(cfg.Security.AuthConfig())
		if err != nil {
			return nil, fmt.Errorf("%w: auth: %w", errConfig, err)
		}
		s.auth = a
	}
	if cfg.Security.TLSCert != "" {
		r, err := tlsreload.New(cfg.Security.TLSCert, cfg.Security.TLSKey, log)
		if err != nil {
			return nil, fmt.Errorf("%w: tls: %w", errConfig, err)
		}
		s.tls = r
	}
	return &s, nil
}

func (s *security) tlsConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.TLSConfig()
}

// logExposure says once, at start-up, who can reach camrec and what
// protects it.
func (s *security) logExposure(addr net.Addr, cfg *config.Config, log *slog.Logger) {
	authDesc := "off: every client may watch, record and delete"
	if s.auth != nil {
		u, t := s.auth.Count()
		authDesc = fmt.Sprintf("on: %d users, %d tokens", u, t)
	} else if cfg.Security.InsecureNoAuth {
		authDesc = "off (insecure_no_auth: a proxy in front must authenticate)"
	}
	tlsDesc := "off"
	if s.tls != nil {
		tlsDesc = "on"
	}
	hostDesc := "off (credentials protect the API)"
	if cfg.Security.HostCheck() {
		hostDesc = "IP addresses, localhost"
		if len(cfg.Security.AllowedHosts) > 0 {
			hostDesc += ", " + strings.Join(cfg.Security.AllowedHosts, ", ")
		}
	}
	level := slog.LevelInfo
	if s.auth == nil && !config.IsLoopback(hostOf(addr)) {
		level = slog.LevelWarn
	}
	log.Log(context.Background(), level, "access", "exposed_to", config.Exposure(addr), "auth", authDesc, "tls", tlsDesc,
		"allowed_hosts", hostDesc, "max_clients_per_camera", cfg.Security.MaxClients)
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return ""
}

// reloadOnHUP reloads the TLS certificate on every SIGHUP until ctx is
// done (the reloader logs the outcome).
func reloadOnHUP(ctx context.Context, r *tlsreload.Reloader, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			log.Info("SIGHUP: reloading the TLS certificate")
			_ = r.Reload() // logged by the reloader
		}
	}
}

// runTool runs -hash-password or -new-token: it prints a users: or
// tokens: entry to paste into the auth section, and returns the exit code.
func runTool(tool config.Tool, stdin *os.File, stdout, stderr io.Writer) int {
	if tool.NewToken {
		tok, hash, err := auth.NewToken()
		if err != nil {
			fmt.Fprintf(stderr, "camrec: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "New token (give it to the client; camrec keeps only its hash, so it is shown once):\n%s\n", tok)
		fmt.Fprintf(stdout, "  - name: %s\n    token_hash: %q\n    role: %s\n", tool.User, hash, tool.Role)
		return 0
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "camrec: %v\n", err)
		return 2
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		fmt.Fprintf(stderr, "camrec: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "  - name: %s\n    password_hash: %q\n    role: %s\n", tool.User, hash, tool.Role)
	return 0
}

// readPassword reads the password: typed twice without echo on a
// terminal, else the first line of stdin.
func readPassword(stdin *os.File, stderr io.Writer) (string, error) {
	fd := int(stdin.Fd())
	if term.IsTerminal(fd) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin (e.g. printf '%s\\n' \"$PW\" | camrec -hash-password)")
	}
	return pw, nil
}
