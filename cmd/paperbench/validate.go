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

func init() { rootCmd.AddCommand(validateCmd) }

func runValidate(cmd *cobra.Command, args []string) error {
	out := cmd.OutOrStdout()
	var errorCount, badPaths int
	for _, arg := range args {
		problems, err := checkPath(arg)
		if err != nil {
			return err
		}
		errs := 0
		for _, p := range problems {
			fmt.Fprintln(out, p)
			if !p.Warning {
				errs++
			}
		}
		if errs > 0 {
			errorCount += errs
			badPaths++
			continue
		}
		fmt.Fprintf(out, "ok %s\n", arg)
	}
	if errorCount > 0 {
		return fmt.Errorf("validate: %d errors in %d of %d paths", errorCount, badPaths, len(args))
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
