// Package apitoken checks the optional bearer token that guards writes.
package apitoken

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// Checker compares presented tokens with the configured one. The zero
// value (no token configured) allows everything.
type Checker struct {
	want *[sha256.Size]byte
}

// New returns a Checker for token; an empty token allows everything.
func New(token string) Checker {
	if token == "" {
		return Checker{}
	}
	sum := sha256.Sum256([]byte(token))
	return Checker{want: &sum}
}

// Enabled reports whether a token is required.
func (c Checker) Enabled() bool { return c.want != nil }

// Allows reports whether an Authorization value ("Bearer <token>") carries
// the token. Hashing first makes the comparison constant-time whatever the
// lengths involved.
func (c Checker) Allows(authorization string) bool {
	if c.want == nil {
		return true
	}
	scheme, token, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], c.want[:]) == 1
}
