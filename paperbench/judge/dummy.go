package judge

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"

	"github.com/latentlab/latent/paperbench/rubric"
)

// Dummy gives every leaf a valid score of 1, like the official DummyJudge; it calls no
// model and serves to test the pipeline.
type Dummy struct{}

// Type returns "dummy".
func (Dummy) Type() string { return "dummy" }

// Fingerprint is empty: the dummy judge has no settings.
func (Dummy) Fingerprint() string { return "" }

// GradeLeaf scores the leaf 1.
func (Dummy) GradeLeaf(context.Context, *rubric.Node, rubric.Path) LeafResult {
	return LeafResult{Verdict: Verdict{Valid: true, Score: 1,
		Explanation: "Dummy judge: every criterion gets a score of 1."}}
}

// Random gives every leaf a valid score of 0 or 1 at random, like the official
// RandomJudge, but reproducibly: the score depends only on the seed and the leaf's path,
// not on the order in which leaves are graded.
type Random struct {
	Seed uint64
}

// Type returns "random".
func (Random) Type() string { return "random" }

// Fingerprint names the seed.
func (r Random) Fingerprint() string { return fmt.Sprintf("seed=%d", r.Seed) }

// GradeLeaf draws the leaf's score.
func (r Random) GradeLeaf(_ context.Context, _ *rubric.Node, p rubric.Path) LeafResult {
	h := fnv.New64a()
	h.Write([]byte(p.String()))
	score := float64(rand.New(rand.NewPCG(r.Seed, h.Sum64())).IntN(2))
	return LeafResult{Verdict: Verdict{Valid: true, Score: score,
		Explanation: fmt.Sprintf("Random judge (seed %d): a score of 0 or 1 drawn at random.", r.Seed)}}
}
