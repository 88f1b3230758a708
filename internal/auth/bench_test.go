package auth

import (
	"net/netip"
	"testing"
)

var benchAddr = netip.MustParseAddr("192.0.2.1")

// The cost of checking each kind of credential: a bcrypt check at the
// default cost (a login, or Basic auth the first time), a Basic password
// bcrypt accepted recently, a token, a session cookie.
// go test -run '^$' -bench . -benchmem ./internal/auth
func benchAuth(b *testing.B) (*Authenticator, string, string) {
	h, err := HashPassword("bench-password")
	if err != nil {
		b.Fatal(err)
	}
	tok, th, err := NewToken()
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(Config{
		Users:  []User{{Name: "u", PasswordHash: h, Role: RoleViewer}},
		Tokens: []Token{{Name: "t", TokenHash: th, Role: RoleViewer}},
	})
	if err != nil {
		b.Fatal(err)
	}
	lr, _, err := a.Login(Client{Addr: benchAddr}, "u", "bench-password")
	if err != nil {
		b.Fatal(err)
	}
	return a, tok, lr.SessionID
}

func BenchmarkPasswordBcrypt(b *testing.B) {
	a, _, _ := benchAuth(b)
	for b.Loop() {
		a.verified.mu.Lock()
		clear(a.verified.m) // every check goes to bcrypt
		a.verified.mu.Unlock()
		if _, _, err := a.CheckPassword(Client{Addr: benchAddr}, "u", "bench-password"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPasswordRemembered(b *testing.B) {
	a, _, _ := benchAuth(b)
	for b.Loop() {
		if _, _, err := a.CheckPassword(Client{Addr: benchAddr}, "u", "bench-password"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToken(b *testing.B) {
	a, tok, _ := benchAuth(b)
	for b.Loop() {
		if _, err := a.Token(tok, "bearer"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSession(b *testing.B) {
	a, _, sid := benchAuth(b)
	for b.Loop() {
		if _, ok := a.Sessions.Lookup(sid); !ok {
			b.Fatal("no session")
		}
	}
}
