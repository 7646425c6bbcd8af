// Package reproduce runs a PaperBench submission's reproduce.sh in a fresh sandbox and records
// what it did: the live log, the executed submission with a manifest of every file (created,
// changed or unchanged; files over a size cap kept as hash and head sample), and every attempt.
// Only failed attempts are retried, and the best attempt is kept, not the last.
package reproduce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/latentlab/latent/internal/atomicfile"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/latentlab/latent/paperbench/archive"
	"github.com/latentlab/latent/paperbench/sandbox"
	"github.com/latentlab/latent/paperbench/submission"
)

// Options configure a reproduction.
type Options struct {
	Submission string // folder or tar / tar.gz
	Out        string
	Provider   sandbox.Provider
	Spec       sandbox.Spec
	Timeout    time.Duration
	Retries    int   // extra attempts after a failed one
	MaxFile    int64 // files larger than this are kept in the manifest only; 0 = 10 MB
}

// Attempt is one run of reproduce.sh.
type Attempt struct {
	Number    int       `json:"number"`
	Start     time.Time `json:"start_time"`
	ExitCode  int       `json:"exit_code"`
	TimedOut  bool      `json:"timed_out"`
	DurationS float64   `json:"duration_s"`
	LogBytes  int64     `json:"log_bytes"`
	Sandbox   string    `json:"sandbox"`
	Enforced  []string  `json:"enforced"`
	// Unenforced lists the limits asked for that the sandbox could not enforce.
	Unenforced []string `json:"unenforced,omitempty"`
}

func (a Attempt) ok() bool { return a.ExitCode == 0 && !a.TimedOut && a.LogBytes > 0 }

// better reports whether a ranks above b: success first, then the longer log.
func (a Attempt) better(b Attempt) bool {
	if a.ok() != b.ok() {
		return a.ok()
	}
	return a.LogBytes > b.LogBytes
}

// File is one manifest entry of the executed submission.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	State  string `json:"state"`          // created, changed or unchanged
	Head   string `json:"head,omitempty"` // first bytes of a file left out for its size
	Kept   bool   `json:"kept"`
}

// The files Run writes into OUT.
const (
	ExecutedDir = "submission_executed" // the submission as reproduction left it
	RecordFile  = "reproduction.json"   // the Record
)

// Record is OUT/reproduction.json.
type Record struct {
	Attempts []Attempt `json:"attempts"`
	Kept     int       `json:"kept_attempt"`
	Manifest []File    `json:"manifest"`
}

const headSample = 1024

// Run reproduces opt.Submission and writes the record to opt.Out.
func Run(ctx context.Context, opt Options) (*Record, error) {
	if opt.MaxFile <= 0 {
		opt.MaxFile = 10 << 20
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, fmt.Errorf("reproduce: out folder: %w", err)
	}
	sub, cleanup, err := openSubmission(opt.Submission, filepath.Join(opt.Out, ".input"))
	if err != nil {
		return nil, err
	}
	defer cleanup()
	before, err := hashTree(sub)
	if err != nil {
		return nil, fmt.Errorf("reproduce: reading submission %s: %w", opt.Submission, err)
	}
	rec := &Record{}
	for n := 1; n <= opt.Retries+1; n++ {
		a, err := attempt(ctx, opt, sub, n)
		if err != nil {
			return nil, err
		}
		rec.Attempts = append(rec.Attempts, a)
		if a.ok() {
			break
		}
	}
	best := 0
	for i, a := range rec.Attempts {
		if a.better(rec.Attempts[best]) {
			best = i
		}
	}
	rec.Kept = rec.Attempts[best].Number
	return rec, keep(opt, rec, before)
}

// openSubmission returns a folder holding reproduce.sh at its root: the folder itself, or a tar
// safely extracted into scratch (submission.Unpack).
func openSubmission(src, scratch string) (string, func(), error) {
	dir, cleanup, err := submission.Unpack(src, scratch)
	if err != nil {
		return "", cleanup, fmt.Errorf("reproduce: %w", err)
	}
	if !isScript(filepath.Join(dir, "reproduce.sh")) {
		return "", cleanup, fmt.Errorf("reproduce: submission %s has no reproduce.sh at its root", src)
	}
	return dir, cleanup, nil
}

// ExecutedSubmission returns the executed submission inside a folder that Run wrote (OUT of
// `paperbench reproduce --out OUT`: OUT/submission_executed, next to reproduction.json), and
// whether dir is such a folder.
func ExecutedSubmission(dir string) (string, bool) {
	exe := filepath.Join(dir, ExecutedDir)
	fi, err := os.Stat(exe)
	if err != nil || !fi.IsDir() {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(dir, RecordFile)); err != nil {
		return "", false
	}
	return exe, true
}

func isScript(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}

// script is what runs in the sandbox: the creation time first, then reproduce.sh teed to
// reproduce.log inside the submission.
const script = `cd /submission && date +%s > reproduce.log.creation_time && set -o pipefail && bash reproduce.sh 2>&1 | tee reproduce.log`

func attempt(ctx context.Context, opt Options, sub string, n int) (Attempt, error) {
	dir := attemptDir(opt.Out, n)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Attempt{}, fmt.Errorf("reproduce: %w", err)
	}
	spec := opt.Spec
	spec.Labels = sandbox.Labels{"stage": "reproduce", "attempt": strconv.Itoa(n)}
	for k, v := range opt.Spec.Labels {
		spec.Labels[k] = v
	}
	sb, err := opt.Provider.Create(ctx, spec)
	if err != nil {
		return Attempt{}, fmt.Errorf("reproduce: attempt %d: %w", n, err)
	}
	defer sb.Close(context.WithoutCancel(ctx))
	if err := putDir(ctx, sb, sub); err != nil {
		return Attempt{}, fmt.Errorf("reproduce: copying submission in: %w", err)
	}
	log, err := os.Create(filepath.Join(dir, "reproduce.log"))
	if err != nil {
		return Attempt{}, fmt.Errorf("reproduce: %w", err)
	}
	defer log.Close()
	in := sb.Info()
	a := Attempt{Number: n, Start: time.Now().UTC(), Sandbox: in.ID, Enforced: in.Enforced, Unenforced: in.Unenforced}
	res, err := sb.Exec(ctx, sandbox.ExecRequest{Shell: script, Timeout: opt.Timeout, Stream: log, OutputLimit: 1})
	if err != nil {
		return a, fmt.Errorf("reproduce: attempt %d: %w", n, err)
	}
	a.ExitCode, a.TimedOut, a.DurationS = res.ExitCode, res.TimedOut, res.Duration.Seconds()
	if fi, err := log.Stat(); err == nil {
		a.LogBytes = fi.Size()
	}
	rc, err := sb.GetTar(ctx, "/submission")
	if err != nil {
		return a, fmt.Errorf("reproduce: copying submission out: %w", err)
	}
	defer rc.Close()
	if err := archive.Extract(rc, filepath.Join(dir, ExecutedDir), archive.Limits{}); err != nil {
		return a, fmt.Errorf("reproduce: executed submission of attempt %d: %w", n, err)
	}
	return a, nil
}

func attemptDir(out string, n int) string {
	return filepath.Join(out, "attempts", strconv.Itoa(n))
}

func putDir(ctx context.Context, sb sandbox.Sandbox, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteDir(pw, dir)) }()
	err := sb.PutTar(ctx, "/submission", pr)
	pr.CloseWithError(errors.New("put finished"))
	return err
}

// keep moves the kept attempt's log and executed submission to OUT, builds the manifest, drops
// files over the size cap and writes reproduction.json atomically.
func keep(opt Options, rec *Record, before map[string]string) error {
	dir := attemptDir(opt.Out, rec.Kept)
	exe := filepath.Join(opt.Out, ExecutedDir)
	os.RemoveAll(exe)
	if err := os.Rename(filepath.Join(dir, ExecutedDir), exe); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	if err := os.Rename(filepath.Join(dir, "reproduce.log"), filepath.Join(opt.Out, "reproduce.log")); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	m, err := manifest(exe, before, opt.MaxFile)
	if err != nil {
		return fmt.Errorf("reproduce: manifest: %w", err)
	}
	rec.Manifest = m
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(opt.Out, RecordFile), append(b, '\n')); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	return nil
}

func manifest(exe string, before map[string]string, maxFile int64) ([]File, error) {
	var out []File
	err := filepath.WalkDir(exe, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(exe, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sum, err := hashFile(p)
		if err != nil {
			return err
		}
		f := File{Path: filepath.ToSlash(rel), Size: fi.Size(), SHA256: sum, Kept: true, State: "created"}
		if h, ok := before[rel]; ok {
			f.State = map[bool]string{true: "unchanged", false: "changed"}[h == f.SHA256]
		}
		if f.Size > maxFile {
			if f.Head, err = head(p); err != nil {
				return err
			}
			f.Kept = false
			if err := os.Remove(p); err != nil {
				return err
			}
		}
		out = append(out, f)
		return nil
	})
	return out, err
}

func head(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, headSample)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", err
	}
	return string(b[:n]), nil
}

// hashTree maps every regular file's relative path to its sha256.
func hashTree(dir string) (map[string]string, error) {
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[rel], err = hashFile(p)
		return err
	})
	return m, err
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
