package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func runWith(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommandsAnswerInOneLine(t *testing.T) {
	code, out, _ := runWith(nil, "version")
	var v map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["version"] != "dev" || v["go_version"] == "" {
		t.Fatalf("version: %d %q", code, out)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve"}, 2, `pixie-thumbnailer: unknown command "serve" (want run, healthcheck or version)` + "\n"},
		{[]string{"run", "now"}, 2, "pixie-thumbnailer: run takes no arguments\n"},
		{nil, 2, "pixie-thumbnailer: pixie-thumbnailer runs on the stack only: set PIXIE_DATABASE_URL_FILE, PIXIE_S3_ENDPOINT, " +
			"PIXIE_S3_ACCESS_KEY_FILE, PIXIE_S3_SECRET_KEY_FILE and PIXIE_NATS_URL, as for pixie-core\n"},
		// A health check exits 1 on bad settings too: runtimes read only 0 and 1.
		{[]string{"healthcheck"}, 1, "pixie-thumbnailer healthcheck: pixie-thumbnailer runs on the stack only"},
		{[]string{"healthcheck", "--ready"}, 1, "pixie-thumbnailer healthcheck: pixie-thumbnailer runs on the stack only"},
		{[]string{"healthcheck", "--live"}, 2, "pixie-thumbnailer: healthcheck takes only --ready (probe /readyz rather than /healthz)\n"},
	} {
		code, _, errOut := runWith(nil, c.args...)
		if code != c.code || !strings.HasPrefix(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}
