package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// sessionIDBytes is the entropy of a session id (256 bits).
const sessionIDBytes = 32

// maxSessions bounds the sessions kept; past it the oldest goes.
const maxSessions = 4096

// Sessions are the server-side login sessions of the web page. Only the
// SHA-256 of each id is kept, so the map lookup's timing says nothing
// useful about ids, and a memory dump holds no usable cookie.
type Sessions struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[[sha256.Size]byte]session
}

type session struct {
	id      *Identity
	created time.Time
	expires time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *Sessions {
	return &Sessions{ttl: ttl, now: now, m: map[[sha256.Size]byte]session{}}
}

// TTL is how long a session lasts.
func (s *Sessions) TTL() time.Duration { return s.ttl }

func (s *Sessions) create(id *Identity) (string, time.Time, error) {
	var b [sessionIDBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("random session id: %w", err)
	}
	sid := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	exp := now.Add(s.ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeLocked(now)
	if len(s.m) >= maxSessions {
		var oldest [sha256.Size]byte
		first := true
		var t time.Time
		for k, v := range s.m {
			if first || v.created.Before(t) {
				oldest, t, first = k, v.created, false
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(sid))] = session{id: id, created: now, expires: exp}
	return sid, exp, nil
}

func (s *Sessions) purgeLocked(now time.Time) {
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
		}
	}
}

// Lookup returns the identity of a live session.
func (s *Sessions) Lookup(sid string) (*Identity, bool) {
	if !ValidSessionID(sid) {
		return nil, false
	}
	k := sha256.Sum256([]byte(sid))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		return nil, false
	}
	if !now.Before(v.expires) {
		delete(s.m, k)
		return nil, false
	}
	return v.id, true
}

// End ends a session (logout); an unknown id is not an error.
func (s *Sessions) End(sid string) {
	k := sha256.Sum256([]byte(sid))
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// Len returns the number of live sessions.
func (s *Sessions) Len() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeLocked(now)
	return len(s.m)
}
