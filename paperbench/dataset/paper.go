package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/latentlab/latent/paperbench/rubric"
)

// The files of a paper folder (data/papers/<paper-id>/ upstream).
const (
	ConfigFile        = "config.yaml"       // {id, title}
	PaperMarkdown     = "paper.md"          // the paper as Markdown, read by agent and judge (Git LFS)
	PaperPDF          = "paper.pdf"         // the paper (Git LFS)
	AddendumFile      = "addendum.md"       // the authors' clarifications, for agent and judge (Git LFS)
	JudgeAddendumFile = "judge.addendum.md" // judge-only notes, present for 4 papers (Git LFS)
	BlacklistFile     = "blacklist.txt"     // URLs the agent may not use; "none" for an empty list
	RubricFile        = "rubric.json"       // the rubric (plain JSON)
	AssetsDir         = "assets"            // figures, copied next to the paper for the agent (Git LFS)
)

// Paper is one paper folder.
type Paper struct {
	Dir string
	// ID is the folder name, which the official registry keys on; Config.ID can differ
	// (stochastic-interpolants has id stochastic-interpolant).
	ID        string
	Config    Config
	Blacklist []string // URLs, without blank, comment and "none" lines
}

// LoadPaper reads the config and blacklist of the paper folder dir. The other files are
// read on demand with [Paper.Read] and [Paper.Rubric].
func LoadPaper(dir string) (*Paper, error) {
	p := &Paper{Dir: dir, ID: filepath.Base(filepath.Clean(dir))}
	data, err := p.Read(ConfigFile)
	if err != nil {
		return nil, err
	}
	if p.Config, err = ParseConfig(data); err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	data, err = p.Read(BlacklistFile)
	if err != nil {
		return nil, err
	}
	p.Blacklist = parseBlacklist(data)
	return p, nil
}

// parseBlacklist keeps the URL lines; blank lines, # comments and the literal "none" (the
// official mark of an empty list) are dropped.
func parseBlacklist(data []byte) []string {
	var urls []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "none" && !strings.HasPrefix(line, "#") {
			urls = append(urls, line)
		}
	}
	return urls
}

// Rubric loads and checks the paper's rubric.json.
func (p *Paper) Rubric() (*rubric.Node, error) {
	return rubric.Load(filepath.Join(p.Dir, RubricFile))
}

// Read returns the content of the named file of the paper folder (a name such as
// [PaperMarkdown] or "assets/fig1.png"). An absent file gives an error that wraps
// fs.ErrNotExist; a file that is still a Git LFS pointer gives an [*LFSPointerError] that
// says how to fetch it.
func (p *Paper) Read(name string) ([]byte, error) {
	path := filepath.Join(p.Dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: paper %s: %w", p.ID, err)
	}
	if ptr, ok := parseLFSPointer(data); ok {
		ptr.Path, ptr.Include = path, lfsInclude(p.Dir)
		return nil, ptr
	}
	return data, nil
}

// Assets lists the names ("assets/fig1.png") of the files in the paper's assets folder.
func (p *Paper) Assets() ([]string, error) {
	var names []string
	err := filepath.WalkDir(filepath.Join(p.Dir, AssetsDir), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(p.Dir, path)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return names, err
}

// LFSPointerError reports a Git LFS pointer file found where content should be: the data
// of the official repository is in Git LFS, and its .lfsconfig excludes it from fetches.
type LFSPointerError struct {
	Path    string
	OID     string // "sha256:…"
	Size    int64  // bytes of the real content
	Include string // the --include pattern that fetches the paper folder
}

func (e *LFSPointerError) Error() string {
	return fmt.Sprintf("dataset: %s is a Git LFS pointer, not the file (%s, %d bytes); fetch the content "+
		"from the repository root with: git lfs pull --include %q --exclude \"\"", e.Path, e.OID, e.Size, e.Include)
}

const lfsVersionPrefix = "version https://git-lfs"

// parseLFSPointer recognises a Git LFS pointer file (at most a few hundred bytes of
// "version …", "oid sha256:…", "size N" lines).
func parseLFSPointer(data []byte) (*LFSPointerError, bool) {
	if len(data) > 1024 || !bytes.HasPrefix(data, []byte(lfsVersionPrefix)) {
		return nil, false
	}
	ptr := &LFSPointerError{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), " ")
		switch key {
		case "oid":
			ptr.OID = value
		case "size":
			ptr.Size, _ = strconv.ParseInt(value, 10, 64)
		}
	}
	return ptr, true
}

// lfsInclude returns the pattern for dir's files relative to the enclosing Git work tree,
// or dir itself outside of one.
func lfsInclude(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.ToSlash(dir) + "/**"
	}
	for top := filepath.Dir(abs); ; top = filepath.Dir(top) {
		if _, err := os.Stat(filepath.Join(top, ".git")); err == nil {
			rel, _ := filepath.Rel(top, abs)
			return filepath.ToSlash(rel) + "/**"
		}
		if top == filepath.Dir(top) {
			return filepath.ToSlash(abs) + "/**"
		}
	}
}
