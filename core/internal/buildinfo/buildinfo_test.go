package buildinfo

import (
	"encoding/json"
	"runtime"
	"testing"
)

func TestGetReflectsLinkTimeVariables(t *testing.T) {
	// -ldflags -X assigns these variables before main; do the same here.
	saved := [3]string{Version, Commit, Date}
	t.Cleanup(func() { Version, Commit, Date = saved[0], saved[1], saved[2] })
	Version, Commit, Date = "v1.2.3", "abc1234", "2025-01-02T03:04:05Z"

	b, err := json.Marshal(Get())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"version":    "v1.2.3",
		"commit":     "abc1234",
		"build_time": "2025-01-02T03:04:05Z",
		"go_version": runtime.Version(),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
