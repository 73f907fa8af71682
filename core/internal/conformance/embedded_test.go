package conformance

import (
	"testing"

	"github.com/pixie-photos/pixie/core/internal/config"
)

func TestEmbedded(t *testing.T) {
	Run(t, Backend{
		Name:      "embedded",
		Configure: func(t *testing.T, cfg *config.Config) { cfg.DataDir = t.TempDir() },
	})
}
