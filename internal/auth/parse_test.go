package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"
)

func basic(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

var authorizationCases = []struct {
	in   string
	want Credentials
	ok   bool
}{
	{"", Credentials{}, true},
	{basic("alice:pw"), Credentials{Scheme: SchemeBasic, User: "alice", Password: "pw"}, true},
	{basic("alice:p:w"), Credentials{Scheme: SchemeBasic, User: "alice", Password: "p:w"}, true},
	{basic("alice:"), Credentials{Scheme: SchemeBasic, User: "alice"}, true},
	{"basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), Credentials{Scheme: SchemeBasic, User: "a", Password: "b"}, true},
	{"Bearer camrec_abc-DEF_123", Credentials{Scheme: SchemeBearer, Token: "camrec_abc-DEF_123"}, true},
	{"bearer  tok", Credentials{Scheme: SchemeBearer, Token: "tok"}, true},
	{basic(":pw"), Credentials{}, false},
	{basic("alice"), Credentials{}, false},
	{basic("al\nice:pw"), Credentials{}, false},
	{"Basic !!!", Credentials{}, false},
	{"Basic", Credentials{}, false},
	{"Bearer", Credentials{}, false},
	{"Bearer a b", Credentials{}, false},
	{"Bearer " + strings.Repeat("a", 300), Credentials{}, false},
	{"Digest username=alice", Credentials{}, false},
	{basic(strings.Repeat("u", 65) + ":pw"), Credentials{}, false},
}

func TestParseAuthorization(t *testing.T) {
	for _, tc := range authorizationCases {
		got, err := ParseAuthorization(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseAuthorization(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, tc := range authorizationCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := ParseAuthorization(h)
		if err != nil {
			// Always the one fixed error: nothing of the header (which
			// may hold a password) reaches an error text or a log.
			if err != errMalformed {
				t.Fatalf("error %v, want errMalformed", err)
			}
			if c != (Credentials{}) {
				t.Fatalf("credentials %+v with error %v", c, err)
			}
			return
		}
		switch c.Scheme {
		case SchemeNone:
			if h != "" {
				t.Fatalf("no scheme from %q", h)
			}
		case SchemeBasic:
			if c.User == "" || len(c.User) > maxUserBytes || !utf8.ValidString(c.User) || strings.ContainsAny(c.User, ":\n\r") {
				t.Fatalf("bad user %q from %q", c.User, h)
			}
		case SchemeBearer:
			if !ValidToken(c.Token) {
				t.Fatalf("bad token %q from %q", c.Token, h)
			}
		}
	})
}

var loginCases = []struct {
	in   string
	want LoginForm
	ok   bool
}{
	{"username=alice&password=pw", LoginForm{User: "alice", Password: "pw", Next: "/"}, true},
	{"username=alice&password=p%26w&next=%2Fapi%2Fv1%2Fcameras", LoginForm{User: "alice", Password: "p&w", Next: "/api/v1/cameras"}, true},
	{"username=alice&password=&next=//evil.example/", LoginForm{User: "alice", Next: "/"}, true},
	{"username=alice&password=pw&next=https://evil.example/", LoginForm{User: "alice", Password: "pw", Next: "/"}, true},
	{"username=alice&password=pw&next=/%5Cevil.example", LoginForm{User: "alice", Password: "pw", Next: "/"}, true},
	{"username=&password=pw", LoginForm{}, false},
	{"password=pw", LoginForm{}, false},
	{"username=a&username=b&password=pw", LoginForm{}, false},
	{"username=a&password=pw&admin=1", LoginForm{}, false},
	{"username=a%zz&password=pw", LoginForm{}, false},
	{"username=a%0Ab&password=pw", LoginForm{}, false},
	{"username=a&password=" + strings.Repeat("p", 2040), LoginForm{}, false},
}

func TestParseLoginForm(t *testing.T) {
	for _, tc := range loginCases {
		got, err := ParseLoginForm([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseLoginForm(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseLoginForm(f *testing.F) {
	for _, tc := range loginCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, body string) {
		lf, err := ParseLoginForm([]byte(body))
		if err != nil {
			if lf != (LoginForm{}) {
				t.Fatalf("form %+v with error", lf)
			}
			return
		}
		if lf.User == "" || len(lf.User) > maxUserBytes {
			t.Fatalf("bad user %q", lf.User)
		}
		if lf.Next != SafeNext(lf.Next) || !strings.HasPrefix(lf.Next, "/") || strings.HasPrefix(lf.Next, "//") {
			t.Fatalf("unsafe next %q", lf.Next)
		}
	})
}

func TestValidSessionID(t *testing.T) {
	good := strings.Repeat("A", 43)
	for _, tc := range []struct {
		in string
		ok bool
	}{{good, true}, {good[:42], false}, {good + "A", false}, {strings.Repeat("!", 43), false}, {"", false}} {
		if ValidSessionID(tc.in) != tc.ok {
			t.Errorf("ValidSessionID(%q) = %v", tc.in, !tc.ok)
		}
	}
}

func FuzzSessionCookie(f *testing.F) {
	f.Add(strings.Repeat("A", 43))
	f.Add("")
	f.Add("camrec_session=abc")
	a, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v string) {
		// No cookie value that this package did not hand out finds a
		// session, and none makes Lookup panic.
		if id, ok := a.Sessions.Lookup(v); ok {
			t.Fatalf("cookie %q found session %+v", v, id)
		}
		if ValidSessionID(v) && len(v) != 43 {
			t.Fatalf("ValidSessionID(%q) with length %d", v, len(v))
		}
	})
}
