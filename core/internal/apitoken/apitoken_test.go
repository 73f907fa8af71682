package apitoken

import "testing"

func TestAllows(t *testing.T) {
	const token = "0123456789abcdef-secret"
	c := New(token)
	if !c.Enabled() {
		t.Fatal("a configured token must be enabled")
	}
	cases := map[string]bool{
		"Bearer " + token:        true,
		"bearer " + token:        true, // the scheme is case-insensitive
		"Bearer " + token + "x":  false,
		"Bearer " + token[:10]:   false,
		"Basic " + token:         false,
		token:                    false,
		"":                       false,
		"Bearer ":                false,
		"Bearer  " + token + " ": true,
	}
	for header, want := range cases {
		if got := c.Allows(header); got != want {
			t.Errorf("Allows(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestZeroCheckerAllowsEverything(t *testing.T) {
	c := New("")
	if c.Enabled() || !c.Allows("") || !c.Allows("Bearer anything") {
		t.Fatal("without a token every request is allowed")
	}
}
