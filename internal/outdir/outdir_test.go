package outdir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	base := t.TempDir()
	full := filepath.Join(base, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "model.safetensors"), []byte("weights"), 0o644)
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	os.Mkdir(filepath.Join(base, "empty"), 0o755)
	for _, tc := range []struct {
		dir   string
		force bool
		want  string // "" for no error
	}{
		{filepath.Join(base, "new"), false, ""},
		{filepath.Join(base, "empty"), false, ""},
		{full, false, "pass --force"},
		{full, true, ""},
		{file, true, "a file is in the way"},
		{"", false, "give an output folder"},
	} {
		err := Check("--out", tc.dir, tc.force)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%q, force %v) = %v, want %q", tc.dir, tc.force, err, tc.want)
		}
	}
}

// folder makes dir holding one file, name, with content.
func folder(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// only checks that parent holds nothing but dir, which holds nothing but name with content.
func only(t *testing.T, parent, dir, name, content string) {
	t.Helper()
	if entries, _ := os.ReadDir(parent); len(entries) != 1 || entries[0].Name() != filepath.Base(dir) {
		t.Errorf("%s holds %v, want only %s", parent, entries, filepath.Base(dir))
	}
	entries, _ := os.ReadDir(dir)
	got, _ := os.ReadFile(filepath.Join(dir, name))
	if len(entries) != 1 || string(got) != content {
		t.Errorf("%s holds %v with %s = %q, want only %s = %q", dir, entries, name, got, name, content)
	}
}

func TestBuildReplacesOnlyWhenComplete(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "model")
	folder(t, dir, "weights", "old")
	write := func(content string) func(string) error {
		return func(tmp string) error { return os.WriteFile(filepath.Join(tmp, "weights"), []byte(content), 0o644) }
	}
	if err := Build(context.Background(), dir, false, write("new")); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("without force: %v, want a refusal", err)
	}
	only(t, parent, dir, "weights", "old")
	failing := func(tmp string) error { write("half")(tmp); return errors.New("disk full") }
	if err := Build(context.Background(), dir, true, failing); err == nil {
		t.Error("a failing fill must fail the build")
	}
	only(t, parent, dir, "weights", "old")
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := func(tmp string) error { write("half")(tmp); cancel(); return nil }
	if err := Build(ctx, dir, true, cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled build: %v, want context.Canceled", err)
	}
	only(t, parent, dir, "weights", "old")
	if err := Build(context.Background(), dir, true, write("new")); err != nil {
		t.Fatal(err)
	}
	only(t, parent, dir, "weights", "new")
}

func TestBuildNewFolder(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "a", "b")
	err := Build(context.Background(), dir, false, func(tmp string) error {
		return os.WriteFile(filepath.Join(tmp, "x"), []byte("1"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	only(t, filepath.Dir(dir), dir, "x", "1")
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", st.Mode().Perm())
	}
}
