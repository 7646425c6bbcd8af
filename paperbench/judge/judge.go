// Package judge grades a PaperBench submission against its rubric, leaf by leaf, the way
// the official judges do: [Simple] (the official SimpleJudge: rank the submission's files
// for the criterion, read the best ones within the model's context, grade with the paper,
// addendum, reproduce.sh, reproduce.log and the preceding criteria, then parse the verdict
// into {valid_score, score, explanation}), [Dummy] (every leaf 1) and [Random] (0 or 1 at
// random, seeded).
//
// [Run] grades the leaves concurrently and survives everything an endpoint can do: a leaf
// whose calls fail after retries, or whose answer cannot be parsed, is marked invalid with
// the reason, and the run goes on. Each graded leaf is appended to a journal (JSON lines,
// synced to disk) as it completes, so that a run that was interrupted resumes without
// paying for the leaves it already graded. Inner nodes are scored from the leaves with
// [rubric.Score].
package judge

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/latentlab/latent/paperbench/rubric"
)

// Grader grades single leaves.
type Grader interface {
	// Type names the judge in reports: "simple", "dummy" or "random".
	Type() string
	// Fingerprint identifies everything that changes the grades (model, settings,
	// inputs); a journal is only resumed by a grader with the same fingerprint.
	Fingerprint() string
	// GradeLeaf grades the leaf at path p of root. It reports failures in the result and
	// must be safe for concurrent use.
	GradeLeaf(ctx context.Context, root *rubric.Node, p rubric.Path) LeafResult
}

// LeafResult is the grade of one leaf.
type LeafResult struct {
	Verdict
	Metadata json.RawMessage // judge_metadata; nil for none
	Usage    Usage           // tokens spent on the leaf
	Cost     float64         // in US dollars
	// Retry marks a failure of the endpoint (or an interruption) rather than a verdict:
	// a resumed run grades the leaf again.
	Retry bool
}

// failed returns an invalid result explained by err.
func failed(err error, retry bool) LeafResult {
	return LeafResult{Verdict: Verdict{Explanation: "grading failed: " + err.Error()}, Retry: retry}
}

// Options tune [Run].
type Options struct {
	Concurrency int    // leaves graded at once; 0 means 100 (the official semaphore)
	Journal     string // path of the journal file; "" keeps none
	// OnLeaf, if set, is called after each leaf is graded and journaled (one call at a
	// time), with the numbers of leaves done and in all.
	OnLeaf func(p rubric.Path, r LeafResult, done, total int)
}

// DefaultConcurrency is the number of leaves graded at once by default.
const DefaultConcurrency = 100

// Report is the outcome of [Run].
type Report struct {
	Tree          *rubric.Node // the graded tree
	Score         float64      // the root's score
	Leaves        int
	InvalidLeaves int
	FailedLeaves  int // invalid because the grading itself failed (the endpoint, an interruption): no verdict
	Resumed       int // leaves taken from the journal
	Graded        int // leaves graded by this run
	Usage         Usage
	Cost          float64 // US dollars, of the leaves graded by this run and the resumed ones
}

// Run grades every leaf of root with g and returns the graded tree; root is not changed.
// When ctx ends first, Run waits for the leaves in flight, keeps what the journal holds,
// and returns ctx's error: run it again with the same journal to resume.
func Run(ctx context.Context, root *rubric.Node, g Grader, opts Options) (*Report, error) {
	tree := root.Clone()
	rubric.Walk(tree, func(_ rubric.Path, n *rubric.Node) bool { n.Grade = nil; return true })
	leaves := rubric.Leaves(tree)
	report := &Report{Tree: tree, Leaves: len(leaves), Usage: Usage{}}

	var journal *Journal
	todo := leaves
	if opts.Journal != "" {
		var entries map[string]JournalEntry
		var err error
		journal, entries, err = OpenJournal(opts.Journal, fingerprint(tree, g))
		if err != nil {
			return nil, err
		}
		defer journal.Close()
		todo = todo[:0:0]
		for _, p := range leaves {
			node, _ := tree.At(p)
			if e, ok := entries[p.String()]; ok && e.matches(node) {
				report.apply(node, e.result())
				report.Resumed++
				continue
			}
			todo = append(todo, p)
		}
	}
	if err := gradeAll(ctx, tree, g, todo, journal, report, opts); err != nil {
		return nil, err
	}
	if _, err := rubric.Score(tree); err != nil {
		return nil, err
	}
	report.Score = tree.Grade.Score
	return report, nil
}

type gradedLeaf struct {
	path   rubric.Path
	result LeafResult
}

// gradeAll grades the leaves at paths with a pool of workers and records each result.
func gradeAll(ctx context.Context, tree *rubric.Node, g Grader, paths []rubric.Path, journal *Journal,
	report *Report, opts Options) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := opts.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	jobs := make(chan rubric.Path)
	results := make(chan gradedLeaf, workers)
	var wg sync.WaitGroup
	for range min(workers, len(paths)) {
		wg.Go(func() {
			for p := range jobs {
				r := g.GradeLeaf(ctx, tree, p)
				if r.Retry && ctx.Err() != nil {
					continue // interrupted: leave it to the resumed run
				}
				results <- gradedLeaf{p, r}
			}
		})
	}
	go func() {
		defer close(jobs)
		for _, p := range paths {
			select {
			case jobs <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	return collect(ctx, cancel, tree, results, journal, report, opts)
}

// collect applies and journals results as they arrive; it syncs the journal once per
// batch of results that arrived together, and stops the grading when the journal cannot
// be written.
func collect(ctx context.Context, cancel context.CancelCauseFunc, tree *rubric.Node, results <-chan gradedLeaf, journal *Journal,
	report *Report, opts Options) error {
	var writeErr error
	for first := range results {
		batch := []gradedLeaf{first}
	drain:
		for {
			select {
			case more, ok := <-results:
				if !ok {
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		if journal != nil && writeErr == nil {
			if writeErr = journal.Append(tree, batch); writeErr != nil {
				cancel(writeErr)
			}
		}
		for _, b := range batch {
			node, _ := tree.At(b.path)
			report.apply(node, b.result)
			report.Graded++
			if opts.OnLeaf != nil {
				opts.OnLeaf(b.path, b.result, report.Resumed+report.Graded, report.Leaves)
			}
		}
	}
	if writeErr != nil {
		return writeErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("judge: interrupted with %d of %d leaves graded: %w",
			report.Resumed+report.Graded, report.Leaves, err)
	}
	return nil
}

// apply sets the leaf's grade and counts it.
func (r *Report) apply(node *rubric.Node, res LeafResult) {
	node.Grade = &rubric.Grade{
		Score: res.Score, Valid: res.Valid, Explanation: res.Explanation, JudgeMetadata: res.Metadata,
	}
	if !res.Valid {
		r.InvalidLeaves++
	}
	if res.Retry {
		r.FailedLeaves++
	}
	r.Usage.Merge(res.Usage)
	r.Cost += res.Cost
}
