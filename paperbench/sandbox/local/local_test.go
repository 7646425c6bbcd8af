package local

import (
	"testing"

	"github.com/latentlab/latent/paperbench/sandbox/sandboxtest"
)

func TestConformance(t *testing.T) {
	p, err := New(t.TempDir())
	if err != nil {
		t.Fatalf("%v (CI must install bubblewrap)", err)
	}
	sandboxtest.Run(t, p)
}
