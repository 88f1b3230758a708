package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camrec/camrec/internal/auth"
)

// A token hash, for config fixtures.
const (
	testTokenHash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

func writeFile(t *testing.T, name, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

func realHash(t *testing.T) string {
	t.Helper()
	// bcrypt.Cost only parses; a real hash keeps auth.New happy.
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestListenNeedsAuth(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-listen", "127.0.0.1:8080"}, true},
		{[]string{"-listen", "localhost:8080"}, true},
		{[]string{"-listen", "[::1]:8080"}, true},
		{[]string{"-listen", "0.0.0.0:8080"}, false},
		{[]string{"-listen", ":8080"}, false},
		{[]string{"-listen", "192.168.1.5:8080"}, false},
		{[]string{"-listen", "0.0.0.0:8080", "-insecure-no-auth"}, true},
	} {
		_, err := Load(tc.args, noEnv, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("Load(%v) = %v, want ok=%v", tc.args, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "camrec -hash-password") {
			t.Errorf("Load(%v): %q does not say how to add a user", tc.args, err)
		}
	}
}

func TestAuthFile(t *testing.T) {
	h := realHash(t)
	body := "users:\n  - name: alice\n    password_hash: \"" + h + "\"\n    role: operator\n" +
		"tokens:\n  - name: ha\n    token_hash: \"" + testTokenHash + "\"\n    role: viewer\n    cameras: [cam0]\n"
	private := writeFile(t, "auth.yaml", body, 0o600)
	cfg, err := Load([]string{"-listen", "0.0.0.0:8080", "-auth-file", private}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ac := cfg.Security.AuthConfig()
	if len(ac.Users) != 1 || ac.Users[0].Role != auth.RoleOperator || len(ac.Tokens) != 1 || ac.Tokens[0].Cameras[0] != "cam0" {
		t.Fatalf("auth config: %+v", ac)
	}
	if cfg.Security.HostCheck() {
		t.Error("host check on with auth and no allowed_hosts")
	}

	open := writeFile(t, "auth.yaml", body, 0o644)
	_, err = Load([]string{"-auth-file", open}, noEnv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "readable by other users") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable auth file: %v", err)
	}
	if strings.Contains(err.Error(), h) {
		t.Fatal("error echoes the hash")
	}

	// systemd's LoadCredential= puts it in $CREDENTIALS_DIRECTORY.
	env := func(k string) string {
		if k == "CREDENTIALS_DIRECTORY" {
			return filepath.Dir(private)
		}
		return ""
	}
	cfg, err = Load([]string{"-listen", ":8080"}, env, io.Discard)
	if err != nil || !cfg.Security.Enabled() {
		t.Fatalf("credential: %v", err)
	}
}

func TestConfigWithAuthMustBePrivate(t *testing.T) {
	body := "listen: 0.0.0.0:8080\nauth:\n  users:\n    - name: alice\n      password_hash: \"" + realHash(t) + "\"\n      role: viewer\n"
	if _, err := Load([]string{"-config", writeFile(t, "c.yaml", body, 0o640)}, noEnv, io.Discard); err != nil {
		t.Fatal(err)
	}
	_, err := Load([]string{"-config", writeFile(t, "c.yaml", body, 0o644)}, noEnv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "readable by other users") {
		t.Fatalf("world-readable config with auth: %v", err)
	}
}

func TestSecurityRejects(t *testing.T) {
	h := realHash(t)
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"bad role", "auth:\n  users:\n    - {name: a, password_hash: \"" + h + "\", role: admin}\n", `user "a": role "admin"`},
		{"plain password", "auth:\n  users:\n    - {name: a, password_hash: hunter2, role: viewer}\n", "not a bcrypt hash"},
		{"no hash", "auth:\n  users:\n    - {name: a, role: viewer}\n", "password_hash is empty"},
		{"unknown camera", "auth:\n  tokens:\n    - {name: t, token_hash: \"" + testTokenHash + "\", role: viewer, cameras: [nope]}\n", `no camera named "nope"`},
		{"bad token", "auth:\n  tokens:\n    - {name: t, token_hash: abc, role: viewer}\n", "token_hash"},
		{"tls half", "tls_cert: /x.pem\n", "tls_cert and tls_key"},
		{"max clients", "max_clients: -1\n", "max_clients"},
		{"host with port", "allowed_hosts: [\"cam.lan:8080\"]\n", "allowed_hosts"},
		{"unknown key", "auth:\n  users:\n    - {name: a, password: x, role: viewer}\n", "password"},
	} {
		p := writeFile(t, "c.yaml", tc.yaml, 0o600)
		_, err := Load([]string{"-config", p}, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error echoes the password: %v", tc.name, err)
		}
	}
}

func TestToolModes(t *testing.T) {
	cfg, err := Load([]string{"-hash-password", "-user", "bob", "-role", "viewer", "-listen", "0.0.0.0:1"}, noEnv, io.Discard)
	if err != nil || !cfg.Tool.HashPassword || cfg.Tool.User != "bob" || cfg.Tool.Role != "viewer" {
		t.Fatalf("-hash-password: %+v %v", cfg, err)
	}
	if _, err := Load([]string{"-new-token", "-role", "root"}, noEnv, io.Discard); err == nil {
		t.Fatal("-new-token -role root accepted")
	}
}

func TestListenNetworkAndExposure(t *testing.T) {
	for in, want := range map[string]string{"0.0.0.0:80": "tcp4", "127.0.0.1:80": "tcp4", ":80": "tcp", "[::]:80": "tcp", "localhost:80": "tcp"} {
		if got := ListenNetwork(in); got != want {
			t.Errorf("ListenNetwork(%q) = %q, want %q", in, got, want)
		}
	}
}
