// Package tasks holds synthetic reasoning tasks on which recurrent depth pays off at test time:
// prefix parity, multi-digit addition and pointer chasing. Each task has a small named vocabulary,
// a deterministic generator whose instances are split into train and test sets by a hash of the
// instance (so the two never overlap), exact-match scoring, and a Batcher that feeds the trainer.
//
// Every task is laid out for full-output prediction: the model reads the problem and predicts an
// answer token at marked positions, all in one forward pass, so the depth that solves the problem
// comes from the recurrence rather than from autoregressive decoding. Labels are the answer token
// at an answer position and Ignore (-100) everywhere else.
package tasks

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strings"
)

// Ignore is the label of a position that carries no answer.
const Ignore = -100

// Token ids every task vocabulary starts with.
const (
	PadID = 0 // fills a row after the instance
	BOSID = 1 // starts every instance
)

// Vocab is a task's fixed vocabulary: token id i is called Names()[i].
type Vocab struct {
	names []string
	ids   map[string]int
}

// NewVocab returns the vocabulary "<pad>", "<bos>", then names in order.
func NewVocab(names ...string) *Vocab {
	v := &Vocab{names: append([]string{"<pad>", "<bos>"}, names...), ids: map[string]int{}}
	for i, n := range v.names {
		v.ids[n] = i
	}
	return v
}

// Size is the number of tokens.
func (v *Vocab) Size() int { return len(v.names) }

// Names lists the token names by id.
func (v *Vocab) Names() []string { return append([]string(nil), v.names...) }

// ID returns the id of a token name.
func (v *Vocab) ID(name string) (int, bool) {
	id, ok := v.ids[name]
	return id, ok
}

// Name returns the name of id, or "<id N>" when id is outside the vocabulary.
func (v *Vocab) Name(id int) string {
	if id < 0 || id >= len(v.names) {
		return fmt.Sprintf("<id %d>", id)
	}
	return v.names[id]
}

// mustID returns the id of a name the task itself defined.
func (v *Vocab) mustID(name string) int {
	id, ok := v.ids[name]
	if !ok {
		panic("tasks: vocabulary lacks " + name)
	}
	return id
}

// Example is one task instance laid out as tokens.
type Example struct {
	Key        string // canonical text of the instance; its hash decides the split
	Inputs     []int  // token ids, starting with BOS
	Labels     []int  // the answer token at answer positions, Ignore elsewhere
	Size       int    // the size the instance was drawn with (bits, digits, hops)
	Difficulty int    // what makes it hard: bits, longest carry chain, hops; the largest Depth
	// Depth is, per position, the sequential work its answer needs: the prefix length of a parity
	// bit, the carry chain that ends at a sum digit, the hop count of a pointer hop; 0 where
	// there is no answer.
	Depth []int
}

// add appends a position to ex.
func (ex *Example) add(input, label, depth int) {
	ex.Inputs = append(ex.Inputs, input)
	ex.Labels = append(ex.Labels, label)
	ex.Depth = append(ex.Depth, depth)
	ex.Difficulty = max(ex.Difficulty, depth)
}

// AnswerPositions lists the positions that carry a label.
func (e Example) AnswerPositions() []int {
	var pos []int
	for i, l := range e.Labels {
		if l != Ignore {
			pos = append(pos, i)
		}
	}
	return pos
}

// Task is a synthetic reasoning task.
type Task interface {
	// Name is the task's registry name.
	Name() string
	// Vocab is the task's vocabulary.
	Vocab() *Vocab
	// TrainSizes is the default range of sizes a model is trained on.
	TrainSizes() (lo, hi int)
	// MaxTokens is the longest layout of an instance of the given size.
	MaxTokens(size int) int
	// Generate draws an instance of the given size (bits, digits, hops) from rng.
	Generate(rng *rand.Rand, size int) (Example, error)
	// Parse lays out a problem written by a person, such as "12345+67890=", and labels its answer.
	Parse(prompt string) (Example, error)
	// ReadingOrder lists the answer positions of ex in the order a person reads the answer.
	ReadingOrder(ex Example) []int
	// Answer writes the predictions at the answer positions of ex the way a person reads them.
	Answer(ex Example, pred []int) string
	// SizeName says what the size of an instance counts: bits, digits, hops.
	SizeName() string
	// DifficultyName says what Example.Difficulty counts.
	DifficultyName() string
}

var registry = map[string]Task{}

func register(t Task) { registry[t.Name()] = t }

func init() {
	register(NewParity())
	register(NewAddition())
	register(NewPointer())
}

// Names lists the registered tasks, sorted.
func Names() []string {
	var names []string
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ByName returns the registered task called name.
func ByName(name string) (Task, error) {
	t, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("tasks: unknown task %q (want one of %s)", name, strings.Join(Names(), ", "))
	}
	return t, nil
}

// Split names one side of the hash partition of a task's instances.
type Split int

// The two splits: about one instance in testShare·100 % of each size is a test instance.
const (
	Train Split = iota
	Test
)

// testPercent is the share of the instance space held out for testing.
const testPercent = 10

func (s Split) String() string {
	if s == Test {
		return "test"
	}
	return "train"
}

// SplitOf returns the split an instance belongs to, decided by an FNV-1a hash of its key alone,
// so that the partition does not depend on seeds, sizes or the order of generation.
func SplitOf(key string) Split {
	h := fnv.New64a()
	h.Write([]byte("latent-tasks-split:"))
	h.Write([]byte(key))
	if h.Sum64()%100 < testPercent {
		return Test
	}
	return Train
}

// maxDraws bounds the rejection sampling of Draw.
const maxDraws = 10000

// Draw generates instances of the given size until one falls in split.
func Draw(t Task, rng *rand.Rand, size int, split Split) (Example, error) {
	for range maxDraws {
		ex, err := t.Generate(rng, size)
		if err != nil {
			return Example{}, err
		}
		if SplitOf(ex.Key) == split {
			return ex, nil
		}
	}
	return Example{}, fmt.Errorf("tasks: %s: no %s instance of size %d in %d draws", t.Name(), split, size, maxDraws)
}

// TestSet returns n test instances of the given size whose difficulty is at least minDifficulty,
// the same for the same seed.
func TestSet(t Task, size, n int, seed uint64, minDifficulty int) ([]Example, error) {
	rng := rand.New(rand.NewPCG(seed, uint64(size)))
	out := make([]Example, 0, n)
	for draws := 0; len(out) < n; draws++ {
		if draws == maxDraws*n {
			return nil, fmt.Errorf("tasks: %s: fewer than %d test instances of size %d have difficulty ≥ %d in %d draws", t.Name(), n, size, minDifficulty, draws)
		}
		ex, err := Draw(t, rng, size, Test)
		if err != nil {
			return nil, err
		}
		if ex.Difficulty >= minDifficulty {
			out = append(out, ex)
		}
	}
	return out, nil
}

// tokenize maps each non-space rune of text to the token of that name.
func tokenize(v *Vocab, text string) ([]int, error) {
	var ids []int
	for i, r := range text {
		if r == ' ' {
			continue
		}
		id, ok := v.ID(string(r))
		if !ok {
			return nil, fmt.Errorf("character %q at byte %d is not in the vocabulary", r, i)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// names returns the names of ids joined without separator.
func names(v *Vocab, ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(v.Name(id))
	}
	return b.String()
}

// spell joins the names of the predictions at positions ("?" where pred is too short).
func spell(v *Vocab, positions, pred []int) string {
	var b strings.Builder
	for _, i := range positions {
		if i >= len(pred) {
			b.WriteString("?")
			continue
		}
		b.WriteString(v.Name(pred[i]))
	}
	return b.String()
}
