package sandbox

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
)

// TestStripTop: both tops ("./" from tar -c -C dir ., "name/" from the Docker engine) are
// removed from names and hard-link targets, the top's own entry is dropped, contents kept.
func TestStripTop(t *testing.T) {
	for _, top := range []string{".", "submission"} {
		var in bytes.Buffer
		tw := tar.NewWriter(&in)
		tw.WriteHeader(&tar.Header{Name: top + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		tw.WriteHeader(&tar.Header{Name: top + "/d/a.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3})
		tw.Write([]byte("abc"))
		tw.WriteHeader(&tar.Header{Name: top + "/link", Typeflag: tar.TypeLink, Linkname: top + "/d/a.txt"})
		tw.Close()
		tr := tar.NewReader(StripTop(io.NopCloser(&in)))
		var got []string
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", top, err)
			}
			b, _ := io.ReadAll(tr)
			got = append(got, h.Name+">"+h.Linkname+":"+string(b))
		}
		want := []string{"d/a.txt>:abc", "link>d/a.txt:"}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("top %q: entries %q, want %q", top, got, want)
		}
	}
}
