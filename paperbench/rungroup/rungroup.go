// Package rungroup reads a folder of PaperBench runs for reports and the viewer, and
// tolerates everything a live or broken run leaves behind: a seed still running, a failed
// reproduction, invalid leaves, missing or malformed files. A problem is recorded with the
// file it concerns and never stops the reading of the rest.
//
// A run group folder holds one folder per paper and in it one folder per seed:
//
//	<group>/<paper>/<seed>/
//	    graded.json                the graded rubric tree (grader output); else grade.json,
//	                               whose paperbench_result.judge_output.graded_task_tree is read
//	    status.json                optional {"status": "running" | "done" | ...}
//	    agent/usage.json           optional {"cost_usd", "working_seconds", "token_usage"}
//	    agent/transcript.jsonl     optional, one JSON message per line
//	    reproduce/manifest.json    optional reproduction record {"attempts", "kept_attempt", "manifest"}
//	    reproduce/reproduce.log    optional
//
// rollout/ is read where agent/ is absent, and reproduction/ (with reproduction.json) where
// reproduce/ is, so that the layout of `paperbench run` reads too.
//
// [LoadFS] reads through an [fs.FS]; given an [os.Root]'s FS it reads nothing outside
// the root, whatever links the folder holds. Links to folders are never listed.
package rungroup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/latentlab/latent/paperbench/rubric"
)

// Seed states.
const (
	Graded    = "graded"    // the graded tree was read
	Pending   = "pending"   // no graded tree yet (status.json may say more)
	Malformed = "malformed" // a graded tree exists but cannot be read
)

// Problem is a file that could not be read, with the reason.
type Problem struct {
	File string `json:"file"` // relative to the group folder
	Err  string `json:"error"`
}

// Group is one run group.
type Group struct {
	Name     string
	FS       fs.FS
	Dir      string // the group folder in FS
	Papers   []*Paper
	Problems []Problem // of every seed, in order
}

// Paper is one paper's seeds.
type Paper struct {
	ID    string
	Seeds []*Seed
}

// Seed is one run of one paper.
type Seed struct {
	Paper, Name string
	Dir         string       // the seed folder in the group's FS
	State       string       // Graded, Pending or Malformed
	Status      string       // from status.json, "" when absent
	Tree        *rubric.Node // nil unless Graded
	Leaves      int
	Invalid     int // invalid leaves
	Usage       *Usage
	Repro       *Reproduction
	Files       map[string]string // role ("transcript", "log", ...) → path relative to Dir
	Problems    []Problem
	fsys        fs.FS
}

// Score returns the root score of a graded seed.
func (s *Seed) Score() float64 { return s.Tree.Grade.Score }

// Usage is what the agent spent (agent/usage.json).
type Usage struct {
	CostUSD        *float64                  `json:"cost_usd"`
	WorkingSeconds *float64                  `json:"working_seconds"`
	Tokens         map[string]map[string]int `json:"token_usage"`
}

// Reproduction is the reproduction record (the reproduce package's reproduction.json).
type Reproduction struct {
	Attempts []struct {
		Number    int     `json:"number"`
		ExitCode  int     `json:"exit_code"`
		TimedOut  bool    `json:"timed_out"`
		DurationS float64 `json:"duration_s"`
		LogBytes  int64   `json:"log_bytes"`
	} `json:"attempts"`
	Kept     int `json:"kept_attempt"`
	Manifest []struct {
		Path  string `json:"path"`
		Size  int64  `json:"size"`
		State string `json:"state"`
	} `json:"manifest"`
}

// Failed reports whether the kept attempt failed (non-zero exit or timeout) or none ran.
func (r *Reproduction) Failed() bool {
	for _, a := range r.Attempts {
		if a.Number == r.Kept {
			return a.ExitCode != 0 || a.TimedOut
		}
	}
	return true
}

// The files of a seed, by role: the first path that exists is used.
var seedFiles = map[string][]string{
	"graded":     {"graded.json"},
	"grade":      {"grade.json"},
	"status":     {"status.json", "rollout/status.json"},
	"usage":      {"agent/usage.json", "rollout/usage.json"},
	"transcript": {"agent/transcript.jsonl", "rollout/transcript.jsonl"},
	"manifest":   {"reproduce/manifest.json", "reproduction/reproduction.json"},
	"log":        {"reproduce/reproduce.log", "reproduction/reproduce.log"},
}

// Load reads the run group folder dir.
func Load(dir string) (*Group, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("rungroup: %w", err)
	}
	g, err := LoadFS(os.DirFS(dir), ".")
	if err == nil {
		abs, _ := filepath.Abs(dir)
		g.Name = filepath.Base(abs)
	}
	return g, err
}

// LoadFS reads the run group folder dir of fsys (a slash-separated path).
func LoadFS(fsys fs.FS, dir string) (*Group, error) {
	g := &Group{Name: path.Base(dir), FS: fsys, Dir: dir}
	papers, err := Subdirs(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("rungroup: %w", err)
	}
	for _, id := range papers {
		p := &Paper{ID: id}
		seeds, err := Subdirs(fsys, path.Join(dir, id))
		if err != nil {
			g.Problems = append(g.Problems, Problem{id, err.Error()})
			continue
		}
		for _, name := range seeds {
			s := LoadSeed(fsys, path.Join(dir, id, name), id, name)
			for _, pr := range s.Problems {
				g.Problems = append(g.Problems, Problem{path.Join(id, name, pr.File), pr.Err})
			}
			p.Seeds = append(p.Seeds, s)
		}
		g.Papers = append(g.Papers, p)
	}
	return g, nil
}

// Subdirs lists the folders in dir (links and hidden folders left out), in order,
// numerically where the names are numbers.
func Subdirs(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, compareNames)
	return names, nil
}

func compareNames(a, b string) int {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return x - y
	}
	return strings.Compare(a, b)
}

// LoadSeed reads the seed folder dir of fsys.
func LoadSeed(fsys fs.FS, dir, paper, name string) *Seed {
	s := &Seed{Paper: paper, Name: name, Dir: dir, State: Pending, Files: map[string]string{}, fsys: fsys}
	for _, role := range slices.Sorted(maps.Keys(seedFiles)) {
		candidates := seedFiles[role]
		for _, c := range candidates {
			st, err := fs.Stat(fsys, path.Join(dir, c))
			if err == nil && st.Mode().IsRegular() {
				s.Files[role] = c
				break
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.problem(c, err) // e.g. a link out of an os.Root
			}
		}
	}
	s.readTree()
	if f, ok := s.Files["status"]; ok {
		var st struct {
			Status string `json:"status"`
		}
		s.readJSON(f, &st)
		s.Status = st.Status
	}
	if f, ok := s.Files["usage"]; ok {
		var u Usage
		if s.readJSON(f, &u) {
			s.Usage = &u
		}
	}
	if f, ok := s.Files["manifest"]; ok {
		var r Reproduction
		if s.readJSON(f, &r) {
			s.Repro = &r
		}
	}
	return s
}

// readTree reads graded.json, else the tree inside grade.json.
func (s *Seed) readTree() {
	var tree *rubric.Node
	var err error
	file := s.Files["graded"]
	switch {
	case file != "":
		tree, err = s.parseTree(file)
	case s.Files["grade"] != "":
		file = s.Files["grade"]
		tree, err = s.treeFromGrade(file)
	default:
		return
	}
	if err == nil && tree.Grade == nil {
		err = errors.New("a rubric without scores, not a graded tree")
	}
	if err != nil {
		s.State = Malformed
		s.problem(file, err)
		return
	}
	if _, err := rubric.Score(tree); err != nil {
		s.State = Malformed
		s.problem(file, err)
		return
	}
	s.State, s.Tree = Graded, tree
	rubric.Walk(tree, func(_ rubric.Path, n *rubric.Node) bool {
		if n.IsLeaf() {
			s.Leaves++
			if !n.Grade.Valid {
				s.Invalid++
			}
		}
		return true
	})
}

// parseTree reads a graded tree file of the seed.
func (s *Seed) parseTree(file string) (*rubric.Node, error) {
	f, err := s.fsys.Open(path.Join(s.Dir, file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return rubric.Parse(f)
}

// treeFromGrade reads the graded tree of an official grade.json.
func (s *Seed) treeFromGrade(file string) (*rubric.Node, error) {
	data, err := s.ReadFile(file, maxJSON)
	if err != nil {
		return nil, err
	}
	var g struct {
		Result struct {
			Judge struct {
				Tree json.RawMessage `json:"graded_task_tree"`
			} `json:"judge_output"`
		} `json:"paperbench_result"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, err
	}
	if len(g.Result.Judge.Tree) == 0 || string(g.Result.Judge.Tree) == "null" {
		return nil, errors.New("no paperbench_result.judge_output.graded_task_tree")
	}
	return rubric.Parse(bytes.NewReader(g.Result.Judge.Tree))
}

// readJSON decodes the seed file into v and records a problem when it cannot.
func (s *Seed) readJSON(file string, v any) bool {
	data, err := s.ReadFile(file, maxJSON)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		s.problem(file, err)
		return false
	}
	return true
}

func (s *Seed) problem(file string, err error) {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	s.Problems = append(s.Problems, Problem{file, msg})
}

// maxJSON caps the size of the small JSON files of a seed.
const maxJSON = 256 << 20

// ErrTooLarge is returned by [Seed.ReadFile] for a file over the cap.
var ErrTooLarge = errors.New("file too large")

// ReadFile reads the seed's file (a path relative to the seed folder), at most max bytes.
func (s *Seed) ReadFile(file string, max int64) ([]byte, error) {
	f, err := s.fsys.Open(path.Join(s.Dir, file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(data)) > max {
		err = fmt.Errorf("%s: %w (over %d bytes)", file, ErrTooLarge, max)
	}
	return data, err
}

// Open opens the seed's file (a path relative to the seed folder).
func (s *Seed) Open(file string) (fs.File, error) { return s.fsys.Open(path.Join(s.Dir, file)) }
