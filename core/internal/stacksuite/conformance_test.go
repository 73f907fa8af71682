package stacksuite

import (
	"testing"

	"github.com/pixie-photos/pixie/core/internal/config"
	"github.com/pixie-photos/pixie/core/internal/conformance"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

// stackBackend runs a pixie-core on st; its events come from JetStream.
func stackBackend(st stacktest.Stack) conformance.Backend {
	return conformance.Backend{
		Name:      "stack",
		Configure: func(_ *testing.T, cfg *config.Config) { cfg.Stack = st.Config() },
		Events: func(t *testing.T) []conformance.Event {
			var out []conformance.Event
			for _, e := range st.Events(t) {
				out = append(out, conformance.Event{Kind: e.Kind, PhotoID: e.PhotoID})
			}
			return out
		},
	}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, stackBackend(stacktest.Fresh(t, stacktest.Shared())))
}
