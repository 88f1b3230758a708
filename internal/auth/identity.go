// Package auth decides who is asking: users with bcrypt-hashed passwords,
// API tokens stored as SHA-256 hashes, server-side login sessions, and a
// per-address throttle against password guessing. It knows nothing of HTTP
// routing; package api calls it from one middleware.
//
// Every secret comparison is constant-time: passwords through bcrypt (and a
// keyed hash for recently verified ones), tokens and session ids through
// their SHA-256 digests. No function here logs or returns a secret.
package auth

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Role is what an identity may do.
type Role int

// The roles, in increasing power.
const (
	// RoleViewer may read status, watch streams and snapshots, list,
	// play and download recordings.
	RoleViewer Role = iota + 1
	// RoleOperator may also switch recording, set controls and delete
	// recordings.
	RoleOperator
)

// ParseRole reads "viewer" or "operator".
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return RoleViewer, nil
	case "operator":
		return RoleOperator, nil
	}
	return 0, fmt.Errorf("role %q: want viewer or operator", s)
}

// String returns the role's config name.
func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Errors callers branch on.
var (
	// ErrBadCredentials: unknown user, wrong password, unknown token,
	// expired or unknown session. Deliberately says no more than that.
	ErrBadCredentials = errors.New("wrong user name, password or token")
	// ErrThrottled: too many failures from this client or for this user;
	// the error is a *ThrottledError saying how long to wait.
	ErrThrottled = errors.New("too many failed logins")
	// ErrBusy: every password check is taken (a storm of guesses); try
	// again in a second. Not counted as a failure.
	ErrBusy = errors.New("too many password checks at once")
)

// ThrottledError is ErrThrottled with how long the client must wait.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string { return ErrThrottled.Error() }

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// Identity is who a request comes from.
type Identity struct {
	// Name is the user's or token's name; "" when auth is off.
	Name string
	Role Role
	// Cameras limits the identity to these cameras; nil means all.
	Cameras []string
	// Via says how the identity was established: "basic", "bearer",
	// "token_query", "session" or "none" (auth off).
	Via string
}

// Anonymous is the identity of every request when auth is off: an
// operator on all cameras.
func Anonymous() *Identity { return &Identity{Role: RoleOperator, Via: "none"} }

// CanSee reports whether the identity may see camera cam at all.
func (id *Identity) CanSee(cam string) bool {
	return id.Cameras == nil || slices.Contains(id.Cameras, cam)
}

// Has reports whether the identity's role is at least r.
func (id *Identity) Has(r Role) bool { return id.Role >= r }
