// Package archive is latent's one way to read and write tar streams. Extract unpacks a tar or
// tar.gz into a folder and refuses anything that could escape it or surprise the host: absolute
// paths, "..", symlinks or hard links that leave the tree, entries written through symlinks,
// devices and fifos, and archives over a size or file-count cap; each refusal names the entry.
// WriteDir streams a folder as a tar without holding the tree in memory.
package archive

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits caps what Extract will write. Zero fields take the defaults.
type Limits struct {
	MaxBytes int64 // total bytes of file contents
	MaxFiles int   // number of entries
}

// Default limits: 64 GiB and one million entries.
const (
	DefaultMaxBytes = 64 << 30
	DefaultMaxFiles = 1_000_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	return l
}

// EntryError is a refused or failed archive entry.
type EntryError struct {
	Entry  string
	Reason string
}

func (e *EntryError) Error() string { return fmt.Sprintf("archive entry %q: %s", e.Entry, e.Reason) }

func refuse(name, format string, args ...any) error {
	return &EntryError{Entry: name, Reason: fmt.Sprintf(format, args...)}
}

// Extract unpacks the tar (or gzip-compressed tar, detected by its magic bytes) read from r
// into dir, which is created if missing.
func Extract(r io.Reader, dir string, lim Limits) error {
	lim = lim.withDefaults()
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("archive: gzip header: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	x := &extractor{root: root, lim: lim}
	tr := tar.NewReader(src)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive: reading entry %d: %w", x.files+1, err)
		}
		if err := x.entry(h, tr); err != nil {
			return err
		}
	}
}

type extractor struct {
	root  string
	lim   Limits
	files int
	bytes int64
}

// clean validates an entry name and returns it as a clean relative slash path ("" = the root).
func clean(name string) (string, error) {
	if name == "" {
		return "", refuse(name, "empty name")
	}
	if strings.ContainsRune(name, 0) {
		return "", refuse(name, "NUL byte in name")
	}
	if strings.HasPrefix(name, "/") || filepath.IsAbs(name) || strings.Contains(name, `\`) {
		return "", refuse(name, "absolute path or backslash")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", refuse(name, `path contains ".."`)
		}
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// parentsPlain checks that no existing component above rel is a symlink, so that nothing is
// written through a link.
func (x *extractor) parentsPlain(name, rel string) error {
	p := x.root
	parts := strings.Split(rel, "/")
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return refuse(name, "%v", err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return refuse(name, "parent %q is a symlink", part)
		}
		if !fi.IsDir() {
			return refuse(name, "parent %q is not a folder", part)
		}
	}
	return nil
}

func (x *extractor) entry(h *tar.Header, r io.Reader) error {
	switch h.Typeflag {
	case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		return nil
	}
	x.files++
	if x.files > x.lim.MaxFiles {
		return refuse(h.Name, "more than %d entries", x.lim.MaxFiles)
	}
	rel, err := clean(h.Name)
	if err != nil {
		return err
	}
	if rel == "" {
		if h.Typeflag == tar.TypeDir {
			return nil
		}
		return refuse(h.Name, "names the extraction root")
	}
	if err := x.parentsPlain(h.Name, rel); err != nil {
		return err
	}
	dst := filepath.Join(x.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return refuse(h.Name, "%v", err)
	}
	perm := fs.FileMode(h.Mode) & 0o777
	switch h.Typeflag {
	case tar.TypeDir:
		return x.dir(h.Name, dst, perm)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		return x.file(h, dst, perm, r)
	case tar.TypeSymlink:
		return x.symlink(h, rel, dst)
	case tar.TypeLink:
		return x.hardlink(h, dst)
	case tar.TypeChar, tar.TypeBlock:
		return refuse(h.Name, "device files are not allowed")
	case tar.TypeFifo:
		return refuse(h.Name, "fifos are not allowed")
	default:
		return refuse(h.Name, "unsupported entry type %q", h.Typeflag)
	}
}

func (x *extractor) dir(name, dst string, perm fs.FileMode) error {
	if fi, err := os.Lstat(dst); err == nil && !fi.IsDir() {
		return refuse(name, "exists and is not a folder")
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return refuse(name, "%v", err)
	}
	return os.Chmod(dst, perm|0o700)
}

// removeNonDir clears a previous non-folder entry at dst so a new one never follows a link.
func removeNonDir(name, dst string) error {
	fi, err := os.Lstat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return refuse(name, "%v", err)
	}
	if fi.IsDir() {
		return refuse(name, "a folder already exists there")
	}
	return os.Remove(dst)
}

func (x *extractor) file(h *tar.Header, dst string, perm fs.FileMode, r io.Reader) error {
	if h.Size < 0 || x.bytes+h.Size > x.lim.MaxBytes {
		return refuse(h.Name, "contents would exceed the %d-byte cap", x.lim.MaxBytes)
	}
	if err := removeNonDir(h.Name, dst); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o600)
	if err != nil {
		return refuse(h.Name, "%v", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, h.Size))
	x.bytes += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return refuse(h.Name, "writing: %v", err)
	}
	if n != h.Size {
		return refuse(h.Name, "truncated: %d of %d bytes", n, h.Size)
	}
	return nil
}

func (x *extractor) symlink(h *tar.Header, rel, dst string) error {
	t := h.Linkname
	if t == "" || path.IsAbs(t) || strings.ContainsRune(t, 0) {
		return refuse(h.Name, "symlink target %q is absolute or empty", t)
	}
	if err := leadingDotDots(t); err != nil {
		return refuse(h.Name, "symlink target %q: %v", t, err)
	}
	resolved := path.Join(path.Dir(rel), t)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return refuse(h.Name, "symlink target %q leaves the tree", t)
	}
	if err := removeNonDir(h.Name, dst); err != nil {
		return err
	}
	if err := os.Symlink(t, dst); err != nil {
		return refuse(h.Name, "%v", err)
	}
	return nil
}

// leadingDotDots allows ".." only at the start of a symlink target, so that resolving it never
// climbs out of a folder reached through another link.
func leadingDotDots(t string) error {
	down := false
	for _, part := range strings.Split(t, "/") {
		switch {
		case part == ".." && down:
			return errors.New(`".." after a named component`)
		case part != ".." && part != "." && part != "":
			down = true
		}
	}
	return nil
}

func (x *extractor) hardlink(h *tar.Header, dst string) error {
	trel, err := clean(h.Linkname)
	if err != nil || trel == "" {
		return refuse(h.Name, "hard link target %q leaves the tree", h.Linkname)
	}
	if err := x.parentsPlain(h.Name, trel); err != nil {
		return err
	}
	target := filepath.Join(x.root, filepath.FromSlash(trel))
	fi, err := os.Lstat(target)
	if err != nil || !fi.Mode().IsRegular() {
		return refuse(h.Name, "hard link target %q is not an extracted regular file", h.Linkname)
	}
	if err := removeNonDir(h.Name, dst); err != nil {
		return err
	}
	if err := os.Link(target, dst); err != nil {
		return refuse(h.Name, "%v", err)
	}
	return nil
}

// WriteDir streams the folder dir to w as an uncompressed tar with names relative to dir.
// Symlinks are written as symlinks; other non-regular files are skipped.
func WriteDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		return writeEntry(tw, p, filepath.ToSlash(rel), d)
	})
	if err != nil {
		return fmt.Errorf("archive: tar %s: %w", dir, err)
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, p, rel string, d fs.DirEntry) error {
	fi, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	case !fi.Mode().IsRegular() && !fi.IsDir():
		return nil
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = rel
	if fi.IsDir() {
		h.Name += "/"
	}
	h.Uname, h.Gname = "", ""
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(tw, f, h.Size)
	return err
}
