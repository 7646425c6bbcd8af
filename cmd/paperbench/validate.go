package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/dataset"
	"github.com/latentlab/latent/paperbench/rubric"
)

var validateCmd = &cobra.Command{
	Use:   "validate PATH...",
	Short: "Check rubric files, paper folders or whole datasets and list every problem",
	Example: `  paperbench validate papers/rice
  paperbench validate papers/ rice.graded.json --json`,
	Long: `Validate checks each PATH and lists every problem with its place:
  - a JSON file: a rubric.json or a graded tree (grader output), checked node by node;
  - a paper folder: its config.yaml, blacklist.txt, rubric.json and paper files
    (absent paper content is a warning, a Git LFS pointer an error);
  - a dataset folder (papers/ and splits/, or data/papers/ and experiments/splits/):
    every paper, and every split's paper ids.
It exits non-zero when any error was found.`,
	Args: cobra.MinimumNArgs(1),
	RunE: runValidate,
}

func init() {
	validateCmd.Flags().Bool("json", false, `print {"paths": [{"path", "ok", "problems": [{"file", "kind", "message"}]}], "errors"}`)
	rootCmd.AddCommand(validateCmd)
}

// validation is the JSON report of validate.
type validation struct {
	Paths  []pathCheck `json:"paths"`
	Errors int         `json:"errors"`
}

type pathCheck struct {
	Path     string        `json:"path"`
	OK       bool          `json:"ok"`
	Problems []problemJSON `json:"problems"`
}

type problemJSON struct {
	File    string `json:"file"`
	Kind    string `json:"kind"` // "error" or "warning"
	Message string `json:"message"`
}

func runValidate(cmd *cobra.Command, args []string) error {
	var rep validation
	badPaths := 0
	for _, arg := range args {
		problems, err := checkPath(arg)
		if err != nil {
			return err
		}
		pc := pathCheck{Path: arg, OK: true, Problems: []problemJSON{}}
		for _, p := range problems {
			kind := "warning"
			if !p.Warning {
				kind, pc.OK = "error", false
				rep.Errors++
			}
			pc.Problems = append(pc.Problems, problemJSON{p.File, kind, fmt.Sprint(p.Err)})
		}
		if !pc.OK {
			badPaths++
		}
		rep.Paths = append(rep.Paths, pc)
	}
	if err := printValidation(cmd, rep); err != nil {
		return err
	}
	if rep.Errors > 0 {
		return fmt.Errorf("validate: %d errors in %d of %d paths", rep.Errors, badPaths, len(args))
	}
	return nil
}

func printValidation(cmd *cobra.Command, rep validation) error {
	out := cmd.OutOrStdout()
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return writeJSON(out, rep)
	}
	for _, pc := range rep.Paths {
		for _, p := range pc.Problems {
			fmt.Fprintf(out, "%s: %s: %s\n", p.File, p.Kind, p.Message)
		}
		if pc.OK {
			fmt.Fprintf(out, "ok %s\n", pc.Path)
		}
	}
	return nil
}

// checkPath validates a rubric file, a paper folder or a dataset folder.
func checkPath(path string) ([]dataset.Problem, error) {
	kind, err := classify(path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindFile:
		return dataset.CheckRubric(path), nil
	case kindPaper:
		return dataset.Check(path), nil
	}
	d, _ := dataset.Open(path)
	return checkDataset(d)
}

// checkDataset checks every paper folder and that every split names existing papers.
func checkDataset(d *dataset.Dataset) ([]dataset.Problem, error) {
	ids, err := d.PaperIDs()
	if err != nil {
		return nil, err
	}
	var problems []dataset.Problem
	for _, id := range ids {
		problems = append(problems, dataset.Check(filepath.Join(d.PapersDir, id))...)
	}
	for _, split := range dataset.Splits {
		file := filepath.Join(d.SplitsDir, split+".txt")
		members, err := d.Split(split)
		if err != nil {
			problems = append(problems, dataset.Problem{File: file, Err: err})
		}
		for _, id := range members {
			if !slices.Contains(ids, id) {
				problems = append(problems, dataset.Problem{File: file, Err: fmt.Errorf("paper %q has no folder in %s", id, d.PapersDir)})
			}
		}
	}
	return problems, nil
}

type pathKind int

const (
	kindFile pathKind = iota
	kindPaper
	kindDataset
)

// classify tells a rubric file, a paper folder (with rubric.json) and a dataset folder apart.
func classify(path string) (pathKind, error) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return 0, err
	case !st.IsDir():
		return kindFile, nil
	}
	if _, err := os.Stat(filepath.Join(path, dataset.RubricFile)); err == nil {
		return kindPaper, nil
	}
	if _, err := dataset.Open(path); err == nil {
		return kindDataset, nil
	}
	return 0, fmt.Errorf("%s is neither a rubric file, a paper folder (no %s) nor a dataset folder", path, dataset.RubricFile)
}

// namedRubric is a rubric to report on, named by its paper id or file path.
type namedRubric struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// rubricFiles expands files, paper folders and dataset folders into the rubric files they hold.
func rubricFiles(args []string) ([]namedRubric, error) {
	var files []namedRubric
	for _, arg := range args {
		kind, err := classify(arg)
		if err != nil {
			return nil, err
		}
		switch kind {
		case kindFile:
			files = append(files, namedRubric{arg, arg})
		case kindPaper:
			files = append(files, namedRubric{filepath.Base(filepath.Clean(arg)), filepath.Join(arg, dataset.RubricFile)})
		case kindDataset:
			d, _ := dataset.Open(arg)
			ids, err := d.PaperIDs()
			if err != nil {
				return nil, err
			}
			for _, id := range ids {
				files = append(files, namedRubric{id, filepath.Join(d.PapersDir, id, dataset.RubricFile)})
			}
		}
	}
	return files, nil
}

// loadRubric loads a rubric, turning its issues into one error that lists them.
func loadRubric(path string) (*rubric.Node, error) {
	root, err := rubric.Load(path)
	var issues rubric.Issues
	if errors.As(err, &issues) {
		return nil, fmt.Errorf("%s is not valid (run paperbench validate): %w", path, issues)
	}
	return root, err
}
