package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/camrec/camrec/internal/auth"
)

// Security defaults.
const (
	// DefaultMaxClients is the most preview streams one camera serves at
	// once (each costs a connection and a queue, not CPU).
	DefaultMaxClients = 32
	// CredentialFile is the file camrec reads from systemd's
	// $CREDENTIALS_DIRECTORY (LoadCredential=auth.yaml:…).
	CredentialFile = "auth.yaml"
)

// Security holds who may use camrec and how it is exposed. Its fields are
// inlined into the top level of the YAML file.
type Security struct {
	// Auth lists the users and tokens. nil: no auth section.
	Auth *Auth `yaml:"auth"`
	// AuthFile names a separate file holding the auth section's content
	// (users:, tokens:), which must not be readable by other users.
	AuthFile string `yaml:"auth_file"`
	// InsecureNoAuth serves a non-loopback address without auth: only
	// behind a trusted proxy that authenticates.
	InsecureNoAuth bool `yaml:"insecure_no_auth"`
	// AllowedHosts are the host names (besides IP literals and
	// localhost) that requests may name in Host; see HostCheck.
	AllowedHosts []string `yaml:"allowed_hosts"`
	TLSCert      string   `yaml:"tls_cert"`
	TLSKey       string   `yaml:"tls_key"`
	// MaxClients is the most preview streams per camera.
	MaxClients int `yaml:"max_clients"`
}

// Auth is the auth section: users and API tokens.
type Auth struct {
	Users  []AuthUser  `yaml:"users"`
	Tokens []AuthToken `yaml:"tokens"`
	// SessionTTL is how long a login on the page lasts (default 12h).
	SessionTTL Duration `yaml:"session_ttl"`
}

// AuthUser is a user who logs in with a password.
type AuthUser struct {
	Name         string   `yaml:"name"`
	PasswordHash string   `yaml:"password_hash"`
	Role         string   `yaml:"role"`
	Cameras      []string `yaml:"cameras"`
}

// AuthToken is an API token, stored as its hash.
type AuthToken struct {
	Name      string   `yaml:"name"`
	TokenHash string   `yaml:"token_hash"`
	Role      string   `yaml:"role"`
	Cameras   []string `yaml:"cameras"`
}

// Enabled reports whether any user or token is configured.
func (s *Security) Enabled() bool {
	return s.Auth != nil && (len(s.Auth.Users) > 0 || len(s.Auth.Tokens) > 0)
}

// HostCheck reports whether requests must name an allowed Host (DNS
// rebinding protection): always when no password protects the API, and
// whenever allowed_hosts is given.
func (s *Security) HostCheck() bool { return !s.Enabled() || len(s.AllowedHosts) > 0 }

// AuthConfig converts the auth section for package auth.
func (s *Security) AuthConfig() auth.Config {
	var c auth.Config
	if s.Auth == nil {
		return c
	}
	c.SessionTTL = time.Duration(s.Auth.SessionTTL)
	for _, u := range s.Auth.Users {
		r, _ := auth.ParseRole(u.Role) // validated
		c.Users = append(c.Users, auth.User{Name: u.Name, PasswordHash: u.PasswordHash, Role: r, Cameras: u.Cameras})
	}
	for _, t := range s.Auth.Tokens {
		r, _ := auth.ParseRole(t.Role)
		c.Tokens = append(c.Tokens, auth.Token{Name: t.Name, TokenHash: t.TokenHash, Role: r, Cameras: t.Cameras})
	}
	return c
}

// hostList is a repeatable flag.
type hostList []string

func (h *hostList) String() string     { return strings.Join(*h, ",") }
func (h *hostList) Set(v string) error { *h = append(*h, v); return nil }

// Tool modes run instead of the daemon.
type Tool struct {
	HashPassword bool
	NewToken     bool
	// User and Role go into the printed config snippet.
	User string
	Role string
}

// securityFlags registers the security flags on fs and returns the
// function that applies those the user set over the file's settings.
func securityFlags(fs *flag.FlagSet, tool *Tool) func(s *Security, set map[string]bool) {
	authFile := fs.String("auth-file", "", "YAML `file` with users: and tokens: (must not be readable by other users)")
	insecure := fs.Bool("insecure-no-auth", false, "serve a non-loopback address without users: only behind a trusted proxy that authenticates")
	var hosts hostList
	fs.Var(&hosts, "allowed-host", "host `name` requests may use besides IP addresses and localhost (repeatable; DNS rebinding protection)")
	cert := fs.String("tls-cert", "", "TLS certificate `file` (PEM); reloaded when it changes or on SIGHUP")
	key := fs.String("tls-key", "", "TLS private key `file` (PEM)")
	maxClients := fs.Int("max-clients", DefaultMaxClients, "most preview streams per camera")
	fs.BoolVar(&tool.HashPassword, "hash-password", false, "read a password from stdin, print a users: entry with its bcrypt hash, and exit")
	fs.BoolVar(&tool.NewToken, "new-token", false, "print a fresh API token (stderr) and its tokens: entry (stdout), and exit")
	fs.StringVar(&tool.User, "user", "admin", "`name` of the user or token printed by -hash-password or -new-token")
	fs.StringVar(&tool.Role, "role", "operator", "role printed by -hash-password or -new-token: viewer or operator")
	return func(s *Security, set map[string]bool) {
		if set["auth-file"] {
			s.AuthFile = *authFile
		}
		if set["insecure-no-auth"] {
			s.InsecureNoAuth = *insecure
		}
		if set["allowed-host"] {
			s.AllowedHosts = hosts
		}
		if set["tls-cert"] {
			s.TLSCert = *cert
		}
		if set["tls-key"] {
			s.TLSKey = *key
		}
		if set["max-clients"] || s.MaxClients == 0 {
			s.MaxClients = *maxClients
		}
	}
}

// loadAuthFile reads the auth file named by auth_file, or systemd's
// credential, into s.Auth.
func (s *Security) loadAuthFile(getenv func(string) string) error {
	path := s.AuthFile
	if path == "" {
		if dir := getenv("CREDENTIALS_DIRECTORY"); dir != "" {
			p := filepath.Join(dir, CredentialFile)
			if _, err := os.Stat(p); err == nil {
				path = p
			}
		}
	}
	if path == "" {
		return nil
	}
	if s.Auth != nil {
		return fmt.Errorf("auth_file %s: the config file has an auth: section too; keep the users in one place", path)
	}
	b, err := readPrivate(path)
	if err != nil {
		return fmt.Errorf("auth_file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var a Auth
	if err := dec.Decode(&a); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("auth_file %s: %w", path, err)
	}
	s.Auth = &a
	return nil
}

// readPrivate reads a file that holds secrets, refusing one that other
// users can read or write.
func readPrivate(path string) ([]byte, error) {
	b, fi, err := readWithInfo(path)
	if err != nil {
		return nil, err
	}
	if err := checkPrivate(path, fi); err != nil {
		return nil, err
	}
	return b, nil
}

// readWithInfo reads a file (at most 1 MiB) and returns it with the mode
// and size it had when opened: one open for both, so what is checked is
// what was read.
func readWithInfo(path string) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	return b, fi, err
}

func checkPrivate(path string, fi os.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o007 != 0 {
		return fmt.Errorf("%s holds secrets and is readable by other users (mode %04o): run chmod 600 %s (or 640 with group camrec)", path, perm, path)
	}
	return nil
}

// validate checks the security settings against the listen address and
// the camera names.
func (s *Security) validate(listen string, cameras []Camera) error {
	if s.Auth != nil {
		names := map[string]bool{}
		for _, c := range cameras {
			names[c.Name] = true
		}
		for i, u := range s.Auth.Users {
			if err := checkEntry("user", i, u.Name, u.Role, u.Cameras, names); err != nil {
				return err
			}
			if u.PasswordHash == "" {
				return fmt.Errorf("auth: user %q: password_hash is empty (make one with camrec -hash-password)", u.Name)
			}
		}
		for i, t := range s.Auth.Tokens {
			if err := checkEntry("token", i, t.Name, t.Role, t.Cameras, names); err != nil {
				return err
			}
		}
		if ttl := time.Duration(s.Auth.SessionTTL); ttl != 0 && (ttl < time.Minute || ttl > 30*24*time.Hour) {
			return fmt.Errorf("auth: session_ttl %v: want 1m to 720h", ttl)
		}
		if err := s.AuthConfig().Validate(); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	for _, h := range s.AllowedHosts {
		if h == "" || strings.ContainsAny(h, ":/ ") {
			return fmt.Errorf("allowed_hosts %q: want a host name without port, e.g. camrec.lan", h)
		}
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return errors.New("tls_cert and tls_key: give both or neither")
	}
	if s.MaxClients < 1 || s.MaxClients > 10000 {
		return fmt.Errorf("max_clients %d: want 1 to 10000", s.MaxClients)
	}
	host, _, _ := net.SplitHostPort(listen)
	if !s.Enabled() && !s.InsecureNoAuth && !IsLoopback(host) {
		return fmt.Errorf("listen %s is reachable from the network, but no user or token is configured.\n"+
			"  Add a user: camrec -hash-password -user NAME > users.yaml (reads the password from stdin),\n"+
			"  put it under auth: users: in the config or in an auth_file (see the README, \"Security\"),\n"+
			"  or listen on 127.0.0.1. Only behind a trusted proxy that authenticates: -insecure-no-auth", listen)
	}
	return nil
}

// checkEntry checks what users and tokens have in common: the name, the
// role and the cameras (which must exist). i counts from 0.
func checkEntry(kind string, i int, name, role string, cams []string, cameras map[string]bool) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("auth: %s #%d: name %q: want 1-32 characters a-z, 0-9, _ or -", kind, i+1, name)
	}
	who := fmt.Sprintf("auth: %s %q", kind, name)
	if _, err := auth.ParseRole(role); err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	for _, c := range cams {
		if !cameras[c] {
			return fmt.Errorf("%s: cameras: no camera named %q", who, c)
		}
	}
	return nil
}

// IsLoopback reports whether a listen host only reaches this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Exposure describes in words who can reach a listen address.
func Exposure(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	switch {
	case !ok:
		return "unknown"
	case ta.IP.IsLoopback():
		return "this machine only (loopback)"
	case ta.IP.IsUnspecified() && ta.IP.To4() != nil:
		return "every IPv4 interface"
	case ta.IP.IsUnspecified():
		return "every interface, IPv4 and IPv6"
	}
	return "the network of " + ta.IP.String()
}

// ListenNetwork returns "tcp4" for an IPv4 host (0.0.0.0 means IPv4 only,
// not IPv6 too), else "tcp".
func ListenNetwork(listen string) string {
	host, _, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		return "tcp4"
	}
	return "tcp"
}

// sortedHosts returns the allowed hosts lower-cased, without duplicates.
func sortedHosts(h []string) []string {
	out := make([]string, 0, len(h))
	for _, s := range h {
		out = append(out, strings.ToLower(strings.TrimSuffix(s, ".")))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
