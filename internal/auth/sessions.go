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

// maxSessions bounds the sessions kept; past it the oldest session of
// the user with the most goes. maxUserSessions bounds one user's: past it
// that user's oldest goes, so no user's logins can end another's sessions.
const (
	maxSessions     = 4096
	maxUserSessions = 32
)

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
	if s.countLocked(id.Name) >= maxUserSessions {
		s.evictOldestLocked(id.Name)
	}
	if len(s.m) >= maxSessions {
		counts := map[string]int{}
		top := ""
		for _, v := range s.m {
			counts[v.id.Name]++
			if counts[v.id.Name] > counts[top] {
				top = v.id.Name
			}
		}
		s.evictOldestLocked(top)
	}
	s.m[sha256.Sum256([]byte(sid))] = session{id: id, created: now, expires: exp}
	return sid, exp, nil
}

// countLocked returns how many sessions user has.
func (s *Sessions) countLocked(user string) int {
	n := 0
	for _, v := range s.m {
		if v.id.Name == user {
			n++
		}
	}
	return n
}

// evictOldestLocked ends user's oldest session.
func (s *Sessions) evictOldestLocked(user string) {
	var (
		oldest [sha256.Size]byte
		t      time.Time
		found  bool
	)
	for k, v := range s.m {
		if v.id.Name == user && (!found || v.created.Before(t)) {
			oldest, t, found = k, v.created, true
		}
	}
	if found {
		delete(s.m, oldest)
	}
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
