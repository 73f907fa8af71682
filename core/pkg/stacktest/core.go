package stacktest

import "testing"

// CorePackage is pixie-core's main package.
const CorePackage = "github.com/pixie-photos/pixie/core/cmd/pixie-core"

// CoreBinary builds pixie-core once per test process.
func CoreBinary(t testing.TB) string { return Binary(t, CorePackage) }

// Core is a running pixie-core.
type Core struct {
	*Process
	HTTPBase string
	GRPCAddr string
}

// StartCore runs pixie-core with env (PIXIE_* settings) on free loopback
// ports and waits until /readyz answers 200.
func StartCore(t testing.TB, env ...string) *Core {
	t.Helper()
	p := Start(t, Service{
		Binary:     CoreBinary(t),
		Env:        append([]string{"PIXIE_HTTP_ADDR=127.0.0.1:0", "PIXIE_GRPC_ADDR=127.0.0.1:0", "PIXIE_LOG_LEVEL=info"}, env...),
		ServingMsg: "pixie-core serving",
		AddrField:  "http_addr",
	})
	return &Core{Process: p, HTTPBase: "http://" + p.Field("http_addr"), GRPCAddr: p.Field("grpc_addr")}
}
