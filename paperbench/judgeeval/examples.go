package judgeeval

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/latentlab/latent/paperbench/rubric"
)

// The files of one example, relative to its folder (the official layout).
const (
	ExpectedFile     = "grading/expected_result.json"
	SubmissionFolder = "submission"
	SubmissionTar    = "submission.tar"
)

// Example is one human-graded submission: judge_eval/<paper>/<example>/.
type Example struct {
	ID           string // "<paper>/<example>"
	Paper        string
	Dir          string
	ExpectedPath string
	Expected     *rubric.Node // the human-graded tree
}

// Discover lists the examples under data (a judge_eval folder) and loads their human
// trees: the given ids ("paper/example"), or every folder that holds a
// grading/expected_result.json when ids is empty.
func Discover(data string, ids []string) ([]Example, error) {
	if len(ids) == 0 {
		var err error
		if ids, err = listIDs(data); err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("judge-eval: no <paper>/<example>/%s under %s", ExpectedFile, data)
		}
	}
	var examples []Example
	for _, id := range ids {
		ex, err := loadExample(data, id)
		if err != nil {
			return nil, err
		}
		examples = append(examples, ex)
	}
	return examples, nil
}

func listIDs(data string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(data, "*", "*", filepath.FromSlash(ExpectedFile)))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(data); err != nil {
		return nil, fmt.Errorf("judge-eval: %w", err)
	}
	var ids []string
	for _, m := range matches {
		exDir := filepath.Dir(filepath.Dir(m))
		ids = append(ids, filepath.Base(filepath.Dir(exDir))+"/"+filepath.Base(exDir))
	}
	sort.Strings(ids)
	return ids, nil
}

func loadExample(data, id string) (Example, error) {
	paper, name, ok := strings.Cut(id, "/")
	if !ok || !validName(paper) || !validName(name) {
		return Example{}, fmt.Errorf("judge-eval: example %q is not of the form paper/example", id)
	}
	dir := filepath.Join(data, paper, name)
	ex := Example{ID: id, Paper: paper, Dir: dir, ExpectedPath: filepath.Join(dir, filepath.FromSlash(ExpectedFile))}
	var err error
	if ex.Expected, err = LoadExpected(ex.ExpectedPath); err != nil {
		return Example{}, err
	}
	return ex, nil
}

func validName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`)
}

// LoadExpected reads a human-graded tree and checks that it is one: every node graded,
// every leaf scored 0 or 1. Errors name the file.
func LoadExpected(path string) (*rubric.Node, error) {
	root, err := rubric.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("judge-eval: %s is missing", path)
	}
	if err != nil {
		return nil, fmt.Errorf("judge-eval: malformed expected result: %w", err)
	}
	if root.Grade == nil {
		return nil, fmt.Errorf("judge-eval: %s: a rubric without scores, not a human-graded tree", path)
	}
	var bad error
	rubric.Walk(root, func(p rubric.Path, n *rubric.Node) bool {
		if bad == nil && n.IsLeaf() && n.Grade.Score != 0 && n.Grade.Score != 1 {
			bad = fmt.Errorf("judge-eval: %s: leaf %s (%s) has human score %v, want 0 or 1", path, p, n.ID, n.Grade.Score)
		}
		return bad == nil
	})
	return root, bad
}

// Submission returns the example's submission folder, extracting submission.tar into
// work/submission first when the example has no folder. It returns "" when the example
// has neither.
func (ex Example) Submission(work string) (string, error) {
	folder := filepath.Join(ex.Dir, SubmissionFolder)
	if st, err := os.Stat(folder); err == nil && st.IsDir() {
		return folder, nil
	}
	tar := filepath.Join(ex.Dir, SubmissionTar)
	if _, err := os.Stat(tar); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return extractOnce(tar, filepath.Join(work, SubmissionFolder))
}

// Compare pairs every valid leaf of the graded tree pred with the node of the same id in
// expected (the first in depth-first order, as the official find), and returns the
// samples and the number of invalid predictions dropped.
func Compare(pred, expected *rubric.Node) ([]Sample, int, error) {
	byID := map[string]*rubric.Node{}
	rubric.Walk(expected, func(_ rubric.Path, n *rubric.Node) bool {
		if _, ok := byID[n.ID]; !ok {
			byID[n.ID] = n
		}
		return true
	})
	var samples []Sample
	dropped := 0
	var err error
	rubric.Walk(pred, func(p rubric.Path, n *rubric.Node) bool {
		switch {
		case err != nil || !n.IsLeaf():
		case n.Grade == nil:
			err = fmt.Errorf("judge-eval: predicted leaf %s (%s) has no grade", p, n.ID)
		case !n.Grade.Valid:
			dropped++
		case n.Grade.Score != 0 && n.Grade.Score != 1:
			err = fmt.Errorf("judge-eval: predicted leaf %s (%s) has score %v, want 0 or 1", p, n.ID, n.Grade.Score)
		default:
			e, ok := byID[n.ID]
			if !ok || e.Grade == nil {
				err = fmt.Errorf("judge-eval: predicted leaf %s: no graded node with id %q in the expected result", p, n.ID)
				break
			}
			samples = append(samples, Sample{Path: p.String(), ID: n.ID, Category: n.TaskCategory,
				Pred: n.Grade.Score, True: e.Grade.Score})
		}
		return err == nil
	})
	return samples, dropped, err
}
