package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/settings"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

// stackEnv is a complete stack configuration with its secrets in files,
// as pixie-core gets it in the stack tests.
func stackEnv(t *testing.T) map[string]string {
	t.Helper()
	st := stacktest.Stack{Servers: stacktest.Servers{S3Endpoint: "http://s3:7070", S3AccessKey: "AKIAPIXIE", S3SecretKey: "very-secret-key",
		NATSURL: "nats://nats:4222"}, DatabaseURL: "postgres://pixie:pw@db:5432/pixie", Bucket: "pixie", Prefix: "pixie"}
	env := map[string]string{}
	for _, kv := range st.Env(t) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func load(env map[string]string) (Config, error) {
	return Load(func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	cfg, err := load(stackEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Sizes, []int{256, 1024}) || cfg.HealthAddr != ":8081" || cfg.MaxDeliver != 5 ||
		cfg.AckWait != 30*time.Second || cfg.RetryBackoff != time.Second || cfg.Workers < 1 ||
		cfg.Decode.Memory != settings.DefaultDecodeMemory || cfg.Stack.NATSPrefix != "pixie" || cfg.Stack.S3SecretKey != "very-secret-key" {
		t.Fatalf("defaults: %+v", cfg)
	}
	if got := cfg.HealthcheckURL(false); got != "http://127.0.0.1:8081/healthz" {
		t.Fatalf("HealthcheckURL = %q", got)
	}
	if got := cfg.HealthcheckURL(true); got != "http://127.0.0.1:8081/readyz" {
		t.Fatalf("HealthcheckURL(ready) = %q", got)
	}
}

func TestOverrides(t *testing.T) {
	env := stackEnv(t)
	for k, v := range map[string]string{
		"PIXIE_THUMBNAIL_SIZES": "64, 2048", "PIXIE_HEALTH_ADDR": "127.0.0.1:0", "PIXIE_THUMBNAILER_WORKERS": "3",
		"PIXIE_THUMBNAILER_MAX_DELIVER": "2", "PIXIE_THUMBNAILER_ACK_WAIT": "2s", "PIXIE_THUMBNAILER_RETRY_BACKOFF": "100ms",
		"PIXIE_DECODE_MEMORY": "67108864", "PIXIE_SHUTDOWN_TIMEOUT": "1s",
	} {
		env[k] = v
	}
	cfg, err := load(env)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Sizes, []int{64, 2048}) || cfg.HealthAddr != "127.0.0.1:0" || cfg.Workers != 3 || cfg.MaxDeliver != 2 ||
		cfg.AckWait != 2*time.Second || cfg.RetryBackoff != 100*time.Millisecond || cfg.Decode.Memory != 64<<20 || cfg.ShutdownTimeout != time.Second {
		t.Fatalf("overrides: %+v", cfg)
	}
}

func TestTheStackIsRequired(t *testing.T) {
	if _, err := load(nil); !errors.Is(err, ErrNoStack) || !strings.Contains(err.Error(), "PIXIE_DATABASE_URL_FILE") {
		t.Fatalf("no stack: %v", err)
	}
	partial := stackEnv(t)
	delete(partial, "PIXIE_NATS_URL")
	var incomplete *settings.IncompleteStackError
	if _, err := load(partial); !errors.As(err, &incomplete) {
		t.Fatalf("partial stack: %v, want pixie-core's own message naming what is missing", err)
	}
}

// Each bad value is refused in one line that names the variable and the fix.
func TestInvalidValuesNameTheVariableAndTheFix(t *testing.T) {
	cases := map[string]struct{ value, fix string }{
		"PIXIE_THUMBNAIL_SIZES":         {"300", "use thumbnail ladder steps (64, 128, 256, 512, 1024, 2048) separated by commas, e.g. 256,1024: pixie-core serves only those"},
		"PIXIE_THUMBNAILER_WORKERS":     {"0", "use a whole number from 1 to 64"},
		"PIXIE_THUMBNAILER_MAX_DELIVER": {"many", "use a whole number from 1 to 100"},
		"PIXIE_THUMBNAILER_ACK_WAIT":    {"500ms", "use at least 1s, e.g. 30s"},
		"PIXIE_HEALTH_ADDR":             {"8081", "use host:port or :port with a port in 0..65535, e.g. :8081"},
		"PIXIE_DECODE_MEMORY":           {"1000", "use a whole number of bytes of at least 67108864 (64 MiB), e.g. 536870912 for 512 MiB"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			env := stackEnv(t)
			env[name] = c.value
			_, err := load(env)
			var bad *settings.Error
			if !errors.As(err, &bad) || bad.Var != name || bad.Fix != c.fix || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line naming %s and %q", err, name, c.fix)
			}
		})
	}
	for _, sizes := range []string{"256,256", "256,", "", "1024 256"} {
		env := stackEnv(t)
		env["PIXIE_THUMBNAIL_SIZES"] = sizes
		if _, err := load(env); (err == nil) != (sizes == "") {
			t.Errorf("sizes %q: err = %v", sizes, err)
		}
	}
}
