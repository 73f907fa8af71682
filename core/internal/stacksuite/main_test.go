// Package stacksuite holds every test that needs the stack's servers
// (Postgres, S3, NATS): the backends against real servers, the conformance
// suite on the stack, faults, crashes and replicas. stacktest's package
// doc says where the servers come from and how to run it by hand.
package stacksuite

import (
	"os"
	"testing"

	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }
