package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/latentlab/latent/paperbench/archive"
	"github.com/latentlab/latent/paperbench/sandbox"
)

// paperFiles are the paper folder's files given to the agent (never the rubric or the
// judge's addendum).
var paperFiles = []string{"paper.md", "paper.pdf", "addendum.md", "blacklist.txt"}

// setupCommand makes /home/submission a git repository and /home/logs a folder.
const setupCommand = `set -e
mkdir -p /home/submission /home/logs
cd /home/submission
if [ ! -d .git ]; then git init -q; fi
git config user.email agent@example.com
git config user.name agent
git config commit.gpgsign false`

// stagePaper copies what the agent may see into a host staging folder laid out as /home.
func stagePaper(paperDir, instr, stage string) error {
	dst := filepath.Join(stage, "paper")
	if err := os.MkdirAll(filepath.Join(stage, "logs"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, name := range paperFiles {
		if err := copyFile(filepath.Join(paperDir, name), filepath.Join(dst, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	assets := filepath.Join(paperDir, "assets")
	if fi, err := os.Stat(assets); err == nil && fi.IsDir() {
		if err := os.CopyFS(filepath.Join(dst, "assets"), os.DirFS(assets)); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(stage, "instructions.txt"), []byte(instr+"\n"), 0o644)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// prepare lays out the agent's computer: the paper, the instructions, the logs folder and
// the submission repository, restored from snapshot when one is given.
func prepare(ctx context.Context, sb sandbox.Sandbox, paperDir, instr, snapshot string) error {
	stage, err := os.MkdirTemp("", "pb-agent-stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := stagePaper(paperDir, instr, stage); err != nil {
		return fmt.Errorf("agent: staging the paper: %w", err)
	}
	if err := putDir(ctx, sb, HomeDir, stage); err != nil {
		return fmt.Errorf("agent: copying the paper in: %w", err)
	}
	if snapshot != "" {
		f, err := os.Open(snapshot)
		if err != nil {
			return fmt.Errorf("agent: restoring: %w", err)
		}
		defer f.Close()
		if err := sb.PutTar(ctx, SubmissionDir, f); err != nil {
			return fmt.Errorf("agent: restoring %s: %w", snapshot, err)
		}
	}
	res, err := sb.Exec(ctx, sandbox.ExecRequest{Shell: setupCommand, Dir: HomeDir, Timeout: 5 * time.Minute})
	if err != nil || res.ExitCode != 0 {
		return fmt.Errorf("agent: setting up /home/submission: exit %d: %v: %s", res.ExitCode, err, res.Output)
	}
	return nil
}

func putDir(ctx context.Context, sb sandbox.Sandbox, dst, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteDir(pw, dir)) }()
	err := sb.PutTar(ctx, dst, pr)
	pr.Close()
	return err
}

// Snapshot is a saved state of /home/submission.
type Snapshot struct {
	Number   int     `json:"number"`
	WorkingS float64 `json:"working_s"`
	Commit   string  `json:"commit"`
	File     string  `json:"file"` // relative to the rollout folder
	Bytes    int64   `json:"bytes"`
	Final    bool    `json:"final"`
}

// snapshotCommand commits everything in /home/submission and prints the commit.
const snapshotCommand = `cd /home/submission && git add -A >/dev/null && ` +
	`git commit -q --allow-empty --no-verify -m "$1" >/dev/null && git rev-parse HEAD`

// takeSnapshot commits /home/submission in the sandbox and saves it as a tar in
// dir/snapshots (written to a temporary file, synced and renamed).
func takeSnapshot(ctx context.Context, sb sandbox.Sandbox, dir string, n int, working time.Duration, final bool) (*Snapshot, error) {
	msg := fmt.Sprintf("snapshot %d at %s of working time", n, clockString(working))
	res, err := sb.Exec(ctx, sandbox.ExecRequest{Argv: []string{"bash", "-c", snapshotCommand, "snapshot", msg},
		Dir: HomeDir, Timeout: 10 * time.Minute})
	if err != nil {
		return nil, fmt.Errorf("agent: snapshot commit: %w", err)
	}
	commit := strings.TrimSpace(string(res.Output))
	if res.ExitCode != 0 {
		commit = "" // the agent may have broken the repository; the tar still saves the files
	}
	rel := filepath.Join("snapshots", fmt.Sprintf("%04d.tar", n))
	size, err := saveTar(ctx, sb, filepath.Join(dir, rel))
	if err != nil {
		return nil, err
	}
	return &Snapshot{Number: n, WorkingS: working.Seconds(), Commit: commit, File: rel, Bytes: size, Final: final}, nil
}

func saveTar(ctx context.Context, sb sandbox.Sandbox, path string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	rc, err := sb.GetTar(ctx, SubmissionDir)
	if err != nil {
		return 0, fmt.Errorf("agent: snapshot: %w", err)
	}
	defer rc.Close()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, rc)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("agent: snapshot: %w", err)
	}
	return n, os.Rename(tmp, path)
}
