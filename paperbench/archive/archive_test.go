package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type ent struct {
	name, link, body string
	typ              byte
}

func mkTar(t testing.TB, ents []ent) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: typ, Mode: 0o644, Size: int64(len(e.body))}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return b.Bytes()
}

func TestHostileRefused(t *testing.T) {
	cases := map[string][]ent{
		"abs":          {{name: "/etc/x", body: "a"}},
		"dotdot":       {{name: "a/../../x", body: "a"}},
		"symlink-out":  {{name: "l", link: "../outside", typ: tar.TypeSymlink}},
		"symlink-abs":  {{name: "l", link: "/etc", typ: tar.TypeSymlink}},
		"through-link": {{name: "l", link: "sub", typ: tar.TypeSymlink}, {name: "l/x", body: "a"}},
		"chain":        {{name: "d/l2", link: "..", typ: tar.TypeSymlink}, {name: "d/l3", link: "l2/../x", typ: tar.TypeSymlink}},
		"hardlink-out": {{name: "h", link: "../x", typ: tar.TypeLink}},
		"hardlink-abs": {{name: "h", link: "/etc/passwd", typ: tar.TypeLink}},
		"device":       {{name: "dev", typ: tar.TypeChar}},
		"fifo":         {{name: "p", typ: tar.TypeFifo}},
		"too-big":      {{name: "big", body: strings.Repeat("x", 200)}},
		"too-many":     {{name: "1", body: "a"}, {name: "2", body: "a"}, {name: "3", body: "a"}, {name: "4", body: "a"}},
	}
	for name, ents := range cases {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "root")
			err := Extract(bytes.NewReader(mkTar(t, ents)), dir, Limits{MaxBytes: 100, MaxFiles: 3})
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("want EntryError, got %v", err)
			}
			if ee.Entry == "" || !strings.Contains(err.Error(), ee.Entry) {
				t.Fatalf("refusal does not name the entry: %v", err)
			}
			assertNothingOutside(t, base)
		})
	}
}

func assertNothingOutside(t testing.TB, base string) {
	es, _ := os.ReadDir(base)
	for _, e := range es {
		if e.Name() != "root" {
			t.Fatalf("extraction wrote %s outside its folder", e.Name())
		}
	}
}

func TestRoundTripGzipOddNames(t *testing.T) {
	src := t.TempDir()
	names := []string{"plain.txt", "sp ace/ü ñ.txt", "-dash", "new\nline", "deep/a/b/c.bin"}
	for i, n := range names {
		p := filepath.Join(src, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, i*1000+1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("plain.txt", filepath.Join(src, "link"))
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if err := WriteDir(zw, src); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	dst := t.TempDir()
	if err := Extract(&b, dst, Limits{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		want, _ := os.ReadFile(filepath.Join(src, n))
		got, err := os.ReadFile(filepath.Join(dst, n))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%q: got %d bytes, err %v; want %d", n, len(got), err, len(want))
		}
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "plain.txt" {
		t.Fatalf("symlink: %q %v", l, err)
	}
}

func TestInsideLinksAllowed(t *testing.T) {
	dst := t.TempDir()
	ents := []ent{{name: "a/f", body: "hi"}, {name: "a/l", link: "../a/f", typ: tar.TypeSymlink}, {name: "h", link: "a/f", typ: tar.TypeLink}}
	if err := Extract(bytes.NewReader(mkTar(t, ents)), dst, Limits{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "h")); string(b) != "hi" {
		t.Fatalf("hard link content %q", b)
	}
}

func TestNotATar(t *testing.T) {
	err := Extract(strings.NewReader(strings.Repeat("garbage!", 100)), t.TempDir(), Limits{})
	if err == nil {
		t.Fatal("garbage accepted")
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(mkTar(f, []ent{{name: "a", body: "x"}}))
	f.Add(mkTar(f, []ent{{name: "../x", body: "x"}}))
	f.Add(mkTar(f, []ent{{name: "l", link: "sub", typ: tar.TypeSymlink}, {name: "l/x", body: "a"}}))
	f.Add(mkTar(f, []ent{{name: "d/l2", link: "..", typ: tar.TypeSymlink}, {name: "d/l2/x", body: "a"}}))
	f.Add(mkTar(f, []ent{{name: "h", link: "../x", typ: tar.TypeLink}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		_ = Extract(bytes.NewReader(data), filepath.Join(base, "root"), Limits{MaxBytes: 1 << 20, MaxFiles: 100})
		assertNothingOutside(t, base)
	})
}
