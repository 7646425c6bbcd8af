// Package submission reads an agent's submission folder without trusting it. Every access
// goes through an [os.Root], so no path, "..", or symbolic link can reach outside the
// folder: links that point outside are reported and never followed, links to folders are
// not walked (no loops), files are read up to a size cap, and binary files are recognised
// and refused instead of being passed on as text.
package submission

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxFileBytes is the default read cap of [Dir.ReadText] (the official judge reads at most
// 200,000 bytes of a file).
const MaxFileBytes = 200_000

// ErrBinary is returned for a file that holds binary data.
var ErrBinary = errors.New("binary file")

// binarySniff is how many leading bytes are checked for a NUL byte.
const binarySniff = 8000

// Dir is an open submission folder. Close it when done.
type Dir struct {
	root *os.Root
	dir  string
}

// File is a regular file of the submission (or a link to one inside it).
type File struct {
	Path    string // slash-separated, relative to the submission folder
	Size    int64
	ModTime time.Time // of the file a link points to
}

// Skipped is an entry the walk left out, with the reason.
type Skipped struct {
	Path   string
	Reason string
}

// Open opens the submission folder dir.
func Open(dir string) (*Dir, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("submission: %w", err)
	}
	return &Dir{root: root, dir: dir}, nil
}

// Close releases the folder.
func (d *Dir) Close() error { return d.root.Close() }

// Path returns the folder's path as given to [Open].
func (d *Dir) Path() string { return d.dir }

// Files lists the regular files in the folder in lexical order, entering folders up to
// maxDepth levels below the top (files directly in the top folder are at level 0; maxDepth
// < 0 means no limit) and skipping every folder for which skipDir(name) is true. Links to
// files inside the folder are listed; links that escape it, dangling links, links to
// folders and special files are returned as skipped.
func (d *Dir) Files(maxDepth int, skipDir func(name string) bool) ([]File, []Skipped, error) {
	var files []File
	var skipped []Skipped
	err := fs.WalkDir(d.root.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			skipped = append(skipped, Skipped{p, err.Error()})
			return nil
		}
		if e.IsDir() {
			if p == "." {
				return nil
			}
			if skipDir != nil && skipDir(e.Name()) || maxDepth >= 0 && strings.Count(p, "/")+1 > maxDepth {
				return fs.SkipDir
			}
			return nil
		}
		info, err := d.root.Stat(p) // follows links, but only inside the folder
		switch {
		case err != nil && e.Type()&fs.ModeSymlink != 0:
			skipped = append(skipped, Skipped{p, "symbolic link not followed: " + linkProblem(err)})
		case err != nil:
			skipped = append(skipped, Skipped{p, err.Error()})
		case info.IsDir():
			skipped = append(skipped, Skipped{p, "symbolic link to a folder not followed"})
		case !info.Mode().IsRegular():
			skipped = append(skipped, Skipped{p, "not a regular file"})
		default:
			files = append(files, File{Path: p, Size: info.Size(), ModTime: info.ModTime()})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("submission: %s: %w", d.dir, err)
	}
	return files, skipped, nil
}

// linkProblem says why a link could not be followed.
func linkProblem(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "its target does not exist"
	}
	if strings.Contains(err.Error(), "escapes") {
		return "it points outside the submission"
	}
	return err.Error()
}

// Text is the content of a file read as text.
type Text struct {
	Content   string
	Size      int64 // the file's full size
	Truncated bool  // only the first bytes were read
}

// ReadText reads the named file (a slash-separated path relative to the folder) as text,
// at most maxBytes bytes of it (maxBytes ≤ 0 means [MaxFileBytes]), like the official
// judge: UTF-8, or Latin-1 when the bytes are not UTF-8. A file with a NUL byte in its
// first 8,000 bytes is binary ([ErrBinary]). Absolute paths and paths that leave the
// folder, also through links, are errors.
func (d *Dir) ReadText(name string, maxBytes int) (Text, error) {
	if maxBytes <= 0 {
		maxBytes = MaxFileBytes
	}
	clean := path.Clean(name)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return Text{}, fmt.Errorf("submission: %q is outside the submission", name)
	}
	info, err := d.root.Stat(clean)
	if err != nil {
		return Text{}, fmt.Errorf("submission: %w", err)
	}
	if !info.Mode().IsRegular() {
		return Text{}, fmt.Errorf("submission: %s is not a regular file", name)
	}
	f, err := d.root.Open(clean)
	if err != nil {
		return Text{}, fmt.Errorf("submission: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(maxBytes)+1))
	if err != nil {
		return Text{}, fmt.Errorf("submission: %s: %w", name, err)
	}
	if bytes.IndexByte(data[:min(len(data), binarySniff)], 0) >= 0 {
		return Text{}, fmt.Errorf("submission: %s: %w", name, ErrBinary)
	}
	t := Text{Size: info.Size(), Truncated: len(data) > maxBytes}
	if t.Truncated {
		data = data[:maxBytes]
	}
	t.Content = decodeText(data, t.Truncated)
	return t, nil
}

// decodeText returns data as a string: UTF-8 when it is (ignoring a character cut at the
// end of a truncated read), else Latin-1.
func decodeText(data []byte, truncated bool) string {
	if truncated {
		for cut := 0; cut < utf8.UTFMax && cut < len(data); cut++ {
			if utf8.Valid(data[:len(data)-cut]) {
				return string(data[:len(data)-cut])
			}
		}
	}
	if utf8.Valid(data) {
		return string(data)
	}
	runes := make([]rune, len(data))
	for i, b := range data {
		runes[i] = rune(b)
	}
	return string(runes)
}
