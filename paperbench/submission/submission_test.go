package submission

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFilesAndReadText(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("do not read"), 0o644)
	dir := t.TempDir()
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.py", []byte("print(1)\n"))
	write("deep/1/2/3/4/5/f.md", []byte("deep"))
	write(".venv/lib/x.py", []byte("x"))
	write("model.bin", append([]byte("PK"), 0, 1, 2))
	write("latin1.txt", []byte{'c', 'a', 'f', 0xe9})
	write("big.txt", []byte(strings.Repeat("é", 100))) // 200 bytes
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "escape.txt"))
	os.Symlink("../../"+filepath.Base(outside)+"/secret.txt", filepath.Join(dir, "relative-escape.txt"))
	os.Symlink("a.py", filepath.Join(dir, "inside.py"))
	os.Symlink("deep", filepath.Join(dir, "loop"))
	os.Symlink("missing", filepath.Join(dir, "dangling"))
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	files, skipped, err := d.Files(-1, func(name string) bool { return strings.Contains(name, "venv") })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Path)
	}
	if got := strings.Join(names, " "); got != "a.py big.txt deep/1/2/3/4/5/f.md inside.py latin1.txt model.bin" {
		t.Errorf("files %q", got)
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[s.Path] = s.Reason
	}
	for path, want := range map[string]string{"escape.txt": "outside the submission", "relative-escape.txt": "outside the submission",
		"loop": "link to a folder", "dangling": "does not exist"} {
		if !strings.Contains(reasons[path], want) {
			t.Errorf("%s skipped as %q, want %q", path, reasons[path], want)
		}
	}
	shallow, _, _ := d.Files(4, nil)
	for _, f := range shallow {
		if strings.HasPrefix(f.Path, "deep/") {
			t.Errorf("depth 4 lists %s", f.Path)
		}
	}
	if txt, err := d.ReadText("latin1.txt", 0); err != nil || txt.Content != "café" {
		t.Errorf("latin1: %q %v", txt.Content, err)
	}
	if txt, err := d.ReadText("big.txt", 11); err != nil || txt.Content != strings.Repeat("é", 5) || !txt.Truncated || txt.Size != 200 {
		t.Errorf("capped read: %+v %v", txt, err)
	}
	if _, err := d.ReadText("model.bin", 0); !errors.Is(err, ErrBinary) {
		t.Errorf("binary file: %v", err)
	}
	for _, bad := range []string{"escape.txt", "../" + filepath.Base(outside) + "/secret.txt", "/etc/passwd", "deep/../../x", "loop"} {
		if txt, err := d.ReadText(bad, 0); err == nil {
			t.Errorf("read %s: %q", bad, txt.Content)
		}
	}
	if txt, err := d.ReadText("./deep/1/../1/2/3/4/5/f.md", 0); err != nil || txt.Content != "deep" {
		t.Errorf("clean relative path: %v", err)
	}
}
