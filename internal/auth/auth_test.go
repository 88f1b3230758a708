package auth

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testHashes caches hashes at MinPasswordCost, the cheapest the auth
// file accepts, so that each password is hashed once per test binary.
var testHashes sync.Map // password → hash

func fastHash(t testing.TB, pw string) string {
	t.Helper()
	if h, ok := testHashes.Load(pw); ok {
		return h.(string)
	}
	h, err := hashPassword(pw, MinPasswordCost)
	if err != nil {
		t.Fatal(err)
	}
	testHashes.Store(pw, h)
	return h
}

// client is an untrusted client at addr.
func client(addr string) Client { return Client{Addr: netip.MustParseAddr(addr)} }

func newTestAuth(t testing.TB, now func() time.Time) (*Authenticator, string) {
	t.Helper()
	tok, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{
		Users: []User{
			{Name: "alice", PasswordHash: fastHash(t, "alice-pw"), Role: RoleOperator},
			{Name: "bob", PasswordHash: fastHash(t, "bob-pw"), Role: RoleViewer, Cameras: []string{"garage"}},
		},
		Tokens: []Token{{Name: "ha", TokenHash: hash, Role: RoleOperator, Cameras: []string{"garage"}}},
		Now:    now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, tok
}

func TestPassword(t *testing.T) {
	a, _ := newTestAuth(t, nil)
	for _, tc := range []struct {
		user, pw string
		ok       bool
		role     Role
	}{
		{"alice", "alice-pw", true, RoleOperator},
		{"alice", "alice-pw", true, RoleOperator}, // second time from the cache
		{"alice", "Alice-pw", false, 0},
		{"alice", "", false, 0},
		{"bob", "bob-pw", true, RoleViewer},
		{"bob", "alice-pw", false, 0},
		{"carol", "alice-pw", false, 0},
		{"alice", strings.Repeat("x", 100), false, 0},
	} {
		id, _, err := a.CheckPassword(client("192.0.2.1"), tc.user, tc.pw)
		if tc.ok != (err == nil) {
			t.Errorf("Password(%q, %q) = %v, want ok=%v", tc.user, tc.pw, err, tc.ok)
			continue
		}
		if !tc.ok {
			if !errors.Is(err, ErrBadCredentials) {
				t.Errorf("Password(%q): %v, want ErrBadCredentials", tc.user, err)
			}
			if strings.Contains(err.Error(), tc.pw) && tc.pw != "" {
				t.Errorf("error %q quotes the password", err)
			}
			continue
		}
		if id.Name != tc.user || id.Role != tc.role {
			t.Errorf("Password(%q) = %+v", tc.user, id)
		}
	}
}

func TestToken(t *testing.T) {
	a, tok := newTestAuth(t, nil)
	id, err := a.Token(tok, "bearer")
	if err != nil || id.Name != "ha" || id.Role != RoleOperator || id.CanSee("cam0") || !id.CanSee("garage") {
		t.Fatalf("Token(valid) = %+v, %v", id, err)
	}
	for _, bad := range []string{"", tok + "x", tok[:len(tok)-1], strings.ToUpper(tok), HashToken(tok)} {
		if _, err := a.Token(bad, "bearer"); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Token(%q) = %v, want ErrBadCredentials", bad, err)
		}
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 {
		t.Errorf("token %q: want %s and 43 base64url characters", tok, TokenPrefix)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := fastHash(t, "pw")
	weak, err := hashPassword("pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"dup user", Config{Users: []User{{Name: "a", PasswordHash: good, Role: RoleViewer}, {Name: "a", PasswordHash: good, Role: RoleViewer}}}, `user "a": defined twice`},
		{"plain password", Config{Users: []User{{Name: "a", PasswordHash: "hunter2", Role: RoleViewer}}}, `user "a": password_hash: not a bcrypt hash`},
		{"weak hash", Config{Users: []User{{Name: "a", PasswordHash: weak, Role: RoleViewer}}}, `user "a": password_hash: bcrypt cost 4 is below 10`},
		{"bad token hash", Config{Tokens: []Token{{Name: "t", TokenHash: "sha256:abc", Role: RoleViewer}}}, `token "t": token_hash`},
		{"plain token", Config{Tokens: []Token{{Name: "t", TokenHash: "camrec_abc", Role: RoleViewer}}}, `token "t": token_hash`},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %q echoes the secret", tc.name, err)
		}
	}
}

func TestSessions(t *testing.T) {
	clk := newClock()
	a, _ := newTestAuth(t, clk.Now)
	c := client("192.0.2.1")
	if _, _, err := a.Login(c, "alice", "nope"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("Login with a wrong password: %v", err)
	}
	lr, _, err := a.Login(c, "alice", "alice-pw")
	id, sid, exp := lr.Identity, lr.SessionID, lr.Expires
	if err != nil || id.Via != "session" {
		t.Fatalf("Login: %+v %v", id, err)
	}
	if !ValidSessionID(sid) || exp != clk.Now().Add(DefaultSessionTTL) {
		t.Fatalf("session id %q expires %v", sid, exp)
	}
	if got, ok := a.Sessions.Lookup(sid); !ok || got.Name != "alice" {
		t.Fatalf("Lookup = %+v %v", got, ok)
	}
	if _, ok := a.Sessions.Lookup(sid[:42] + "A"); ok && sid[42] != 'A' {
		t.Fatal("a different id found the session")
	}
	clk.Add(DefaultSessionTTL - time.Second)
	if _, ok := a.Sessions.Lookup(sid); !ok {
		t.Fatal("session gone before its expiry")
	}
	clk.Add(time.Second)
	if _, ok := a.Sessions.Lookup(sid); ok {
		t.Fatal("session alive after its expiry")
	}
	lr2, _, _ := a.Login(c, "bob", "bob-pw")
	sid2 := lr2.SessionID
	a.Sessions.End(sid2)
	if _, ok := a.Sessions.Lookup(sid2); ok {
		t.Fatal("session alive after End (logout)")
	}
	if n := a.Sessions.Len(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Role
		ok   bool
	}{{"viewer", RoleViewer, true}, {"operator", RoleOperator, true}, {"admin", 0, false}, {"", 0, false}} {
		r, err := ParseRole(tc.in)
		if (err == nil) != tc.ok || r != tc.want {
			t.Errorf("ParseRole(%q) = %v, %v", tc.in, r, err)
		}
		if tc.ok && r.String() != tc.in {
			t.Errorf("%v.String() = %q", r, r.String())
		}
	}
	if !(&Identity{Role: RoleOperator}).Has(RoleViewer) || (&Identity{Role: RoleViewer}).Has(RoleOperator) {
		t.Fatal("role order wrong")
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil || !strings.HasPrefix(h, "$2a$12$") {
		t.Fatalf("HashPassword = %q, %v", h, err)
	}
	for _, bad := range []string{"", strings.Repeat("p", 73)} {
		if _, err := HashPassword(bad); err == nil {
			t.Errorf("HashPassword(%d bytes) accepted", len(bad))
		}
	}
}
