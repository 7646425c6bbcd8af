// Package dataset reads the PaperBench data: paper folders (config.yaml, paper.md,
// paper.pdf, addendum.md, judge.addendum.md, blacklist.txt, rubric.json, assets/) and the
// splits that list paper ids (all, dev, lite, human, debug, testing).
//
// Most paper content is stored in Git LFS upstream; a file that is still an LFS pointer is
// reported with the command that fetches it ([LFSPointerError]).
package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/latentlab/latent/paperbench/rubric"
)

// Splits names the official splits (experiments/splits/<name>.txt upstream).
var Splits = []string{"all", "dev", "lite", "human", "debug", "testing"}

// Dataset is a PaperBench data folder.
type Dataset struct {
	PapersDir string // one folder per paper id
	SplitsDir string // <split>.txt files, one paper id per line
}

// Open finds the papers and splits folders under root, in either layout: papers/ and
// splits/ (the shared fixtures), or data/papers/ and experiments/splits/ (the official
// project/paperbench folder).
func Open(root string) (*Dataset, error) {
	for _, layout := range [][2]string{{"papers", "splits"}, {"data/papers", "experiments/splits"}} {
		papers := filepath.Join(root, layout[0])
		if st, err := os.Stat(papers); err == nil && st.IsDir() {
			return &Dataset{PapersDir: papers, SplitsDir: filepath.Join(root, layout[1])}, nil
		}
	}
	return nil, fmt.Errorf("dataset: %s has neither papers/ nor data/papers/", root)
}

// PaperIDs lists the paper folders in name order.
func (d *Dataset) PaperIDs() ([]string, error) {
	entries, err := os.ReadDir(d.PapersDir)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Paper loads the paper with the given id.
func (d *Dataset) Paper(id string) (*Paper, error) {
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return nil, fmt.Errorf("dataset: invalid paper id %q", id)
	}
	return LoadPaper(filepath.Join(d.PapersDir, id))
}

// Split returns the paper ids of the named split, in file order.
func (d *Dataset) Split(name string) ([]string, error) {
	if !slices.Contains(Splits, name) {
		return nil, fmt.Errorf("dataset: unknown split %q (want one of %s)", name, strings.Join(Splits, ", "))
	}
	data, err := os.ReadFile(filepath.Join(d.SplitsDir, name+".txt"))
	if err != nil {
		return nil, fmt.Errorf("dataset: split %s: %w", name, err)
	}
	return strings.Fields(string(data)), nil
}

// Problem is one finding of [Check]: an error, or a warning that does not make the paper
// unusable.
type Problem struct {
	File    string
	Err     error
	Warning bool
}

func (p Problem) String() string {
	kind := "error"
	if p.Warning {
		kind = "warning"
	}
	return fmt.Sprintf("%s: %s: %v", p.File, kind, p.Err)
}

// Check examines the paper folder dir and returns every problem found:
//   - config.yaml, blacklist.txt and rubric.json must be present and valid (each rubric
//     issue is one problem);
//   - a config id that differs from the folder name is a warning (the registry uses the
//     folder name);
//   - paper.md, paper.pdf and addendum.md that are absent are warnings (data not
//     hydrated), LFS pointers are errors, and paper.md needs more than 5 lines (as the
//     official check_for_lfs);
//   - judge.addendum.md and assets/ are optional, but must not be LFS pointers.
func Check(dir string) []Problem {
	var problems []Problem
	add := func(name string, err error, warning bool) {
		problems = append(problems, Problem{File: filepath.Join(dir, name), Err: err, Warning: warning})
	}
	p, err := LoadPaper(dir)
	if err != nil {
		add("", err, false)
		p = &Paper{Dir: dir, ID: filepath.Base(filepath.Clean(dir))}
	} else if p.Config.ID != p.ID {
		add(ConfigFile, fmt.Errorf("id %q differs from the folder name %q, which the registry uses", p.Config.ID, p.ID), true)
	}
	problems = append(problems, CheckRubric(filepath.Join(dir, RubricFile))...)
	for _, name := range []string{PaperMarkdown, PaperPDF, AddendumFile, JudgeAddendumFile} {
		data, err := p.Read(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if name != JudgeAddendumFile {
				add(name, errors.New("absent: the paper content has not been fetched"), true)
			}
		case err != nil:
			add(name, err, false)
		case name == PaperMarkdown && strings.Count(string(data), "\n") < 5:
			add(name, errors.New("has 5 lines or fewer: not a real conversion of the paper"), false)
		}
	}
	assets, err := p.Assets()
	if err != nil {
		add(AssetsDir, err, false)
	}
	for _, name := range assets {
		if _, err := p.Read(name); err != nil {
			add(name, err, false)
		}
	}
	return problems
}

// CheckRubric loads the rubric or graded tree in the named file and returns one problem
// per issue found, or one for a file that cannot be read.
func CheckRubric(path string) []Problem {
	_, err := rubric.Load(path)
	var issues rubric.Issues
	if !errors.As(err, &issues) {
		if err != nil {
			return []Problem{{File: path, Err: err}}
		}
		return nil
	}
	problems := make([]Problem, len(issues))
	for i, issue := range issues {
		problems[i] = Problem{File: path, Err: issue}
	}
	return problems
}
