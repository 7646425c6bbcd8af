package main

import (
	"path/filepath"
	"testing"
)

func TestServeDefaultsAndErrors(t *testing.T) {
	if def := serveCmd.Flags().Lookup("addr").DefValue; def != "127.0.0.1:8090" {
		t.Errorf("serve binds %s by default, want 127.0.0.1:8090", def)
	}
	if _, err := runCLI(t, "serve", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("serving a missing folder gave no error")
	}
	if _, err := runCLI(t, "serve", t.TempDir(), "--addr", "256.0.0.1:1"); err == nil {
		t.Error("a bad address gave no error")
	}
}
