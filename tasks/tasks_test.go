package tasks

import (
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func allTasks(t *testing.T) []Task {
	var out []Task
	for _, name := range Names() {
		task, err := ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, task)
	}
	if len(out) != 3 {
		t.Fatalf("registered tasks %v, want parity, addition and pointer", Names())
	}
	return out
}

func TestGeneratorsAreDeterministic(t *testing.T) {
	for _, task := range allTasks(t) {
		_, size := task.TrainSizes()
		a, err := TestSet(task, size, 20, 7, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := TestSet(task, size, 20, 7, 0)
		c, _ := TestSet(task, size, 20, 8, 0)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two test sets with seed 7 differ", task.Name())
		}
		if reflect.DeepEqual(a, c) {
			t.Errorf("%s: seeds 7 and 8 give the same test set", task.Name())
		}
		for _, ex := range a {
			if ex.Size != size || len(ex.Inputs) > task.MaxTokens(size) {
				t.Errorf("%s: instance %q has size %d and %d tokens, want size %d within %d tokens",
					task.Name(), ex.Key, ex.Size, len(ex.Inputs), size, task.MaxTokens(size))
			}
			if len(ex.Labels) != len(ex.Inputs) || len(ex.Depth) != len(ex.Inputs) {
				t.Errorf("%s: %d inputs, %d labels, %d depths", task.Name(), len(ex.Inputs), len(ex.Labels), len(ex.Depth))
			}
		}
	}
}

func TestMinDifficultyFiltersTestSet(t *testing.T) {
	set, err := TestSet(NewAddition(), 10, 30, 1, 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range set {
		if ex.Difficulty < 6 {
			t.Errorf("%s has a carry chain of %d, want at least 6", ex.Key, ex.Difficulty)
		}
	}
	if _, err := TestSet(NewAddition(), 2, 1, 1, 5); err == nil {
		t.Error("a 2-digit sum with a carry chain of 5 was found")
	}
}

func TestTrainAndTestNeverOverlap(t *testing.T) {
	for _, task := range allTasks(t) {
		lo, hi := task.TrainSizes()
		test := map[string]bool{}
		for size := lo; size <= hi; size++ {
			set, err := TestSet(task, size, 50, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, ex := range set {
				if SplitOf(ex.Key) != Test {
					t.Fatalf("%s: test instance %q hashes to the train split", task.Name(), ex.Key)
				}
				test[ex.Key] = true
			}
		}
		b, err := NewBatcher(task, lo, hi)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		drawn, share := 0, 0
		for range 4000 {
			ex, err := Draw(task, rng, lo+rng.IntN(hi-lo+1), b.Split)
			if err != nil {
				t.Fatal(err)
			}
			if test[ex.Key] || SplitOf(ex.Key) == Test {
				t.Fatalf("%s: training draw %q is a test instance", task.Name(), ex.Key)
			}
			drawn++
		}
		for range 4000 {
			ex, _ := task.Generate(rng, hi)
			if SplitOf(ex.Key) == Test {
				share++
			}
		}
		if share < 4000*testPercent/100*7/10 || share > 4000*testPercent/100*13/10 {
			t.Errorf("%s: %d of 4000 fresh instances are test instances, want about %d %%", task.Name(), share, testPercent)
		}
	}
}

func TestSplitCoversSmallSpaceExactly(t *testing.T) {
	// Every 8-bit string belongs to exactly one split, and Draw only returns its own split.
	p := NewParity()
	inTest := 0
	for v := 0; v < 256; v++ {
		bits := make([]int, 8)
		for i := range bits {
			bits[i] = v >> i & 1
		}
		if SplitOf(p.layout(bits).Key) == Test {
			inTest++
		}
	}
	if inTest == 0 || inTest == 256 {
		t.Fatalf("%d of the 256 8-bit strings are test instances", inTest)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for range 500 {
		ex, err := Draw(p, rng, 8, Test)
		if err != nil || SplitOf(ex.Key) != Test {
			t.Fatalf("Draw(test) = %q, %v", ex.Key, err)
		}
	}
}

func TestScoringHandMadeCases(t *testing.T) {
	a := NewAddition()
	ex, err := a.Parse("58+67=") // 125: digits 5 2 1 least significant first
	if err != nil {
		t.Fatal(err)
	}
	right := append([]int(nil), ex.Labels...)
	for i, l := range right {
		if l == Ignore {
			right[i] = PadID // predictions at positions without an answer do not count
		}
	}
	wrongDigit := append([]int(nil), right...)
	wrongDigit[ex.AnswerPositions()[1]] = a.digit(3)
	var s Score
	if !s.Add(ex, right) {
		t.Error("a right answer was scored wrong")
	}
	if s.Add(ex, wrongDigit) {
		t.Error("an answer with a wrong tens digit was scored right")
	}
	if s.Add(ex, right[:4]) {
		t.Error("a truncated prediction was scored right")
	}
	if s.Instances != 3 || s.InstancesRight != 1 || s.Positions != 9 || s.PositionsRight != 3+2+1 {
		t.Errorf("score %+v, want 1 of 3 instances and 6 of 9 positions", s)
	}
	if got := a.Answer(ex, wrongDigit); got != "135" {
		t.Errorf("answer with the tens digit predicted 3: %q, want 135", got)
	}
	if got, want := s.Accuracy(), 1.0/3; got != want {
		t.Errorf("accuracy %v, want %v", got, want)
	}
}

func TestParseRejectsMalformedPrompts(t *testing.T) {
	bad := map[string][]string{
		"parity":   {"", "012", "10a1", "="},
		"addition": {"12+", "+3", "1-2=", "12+3+4", "x+1="},
		"pointer":  {"ab >a", "ab ac >a?", "ab >z?", "ab >a?b", "a", "ab >a"},
	}
	for name, prompts := range bad {
		task, _ := ByName(name)
		for _, p := range prompts {
			if ex, err := task.Parse(p); err == nil {
				t.Errorf("%s: Parse(%q) accepted %v", name, p, ex.Inputs)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0110", "12345+67890=", "999+1", "ce ac eb ba >a???", "ab ba >a?", "1+", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, prompt string) {
		for _, name := range Names() {
			task, _ := ByName(name)
			ex, err := task.Parse(prompt)
			if err != nil {
				continue
			}
			if len(ex.Labels) != len(ex.Inputs) || len(ex.Depth) != len(ex.Inputs) || len(ex.AnswerPositions()) == 0 {
				t.Fatalf("%s %q: %d inputs, %d labels, %d depths", name, prompt, len(ex.Inputs), len(ex.Labels), len(ex.Depth))
			}
			for i, l := range ex.Labels {
				if l != Ignore && (l < 0 || l >= task.Vocab().Size()) {
					t.Fatalf("%s %q: label %d at %d is outside the vocabulary", name, prompt, l, i)
				}
			}
			if name == "addition" {
				checkSum(t, prompt, task.Answer(ex, ex.Labels))
			}
		}
	})
}

// checkSum compares the answer read from the labels with the sum computed by math/big.
func checkSum(t *testing.T, prompt, got string) {
	x, y, _ := strings.Cut(strings.TrimSuffix(strings.ReplaceAll(prompt, " ", ""), "="), "+")
	a, _ := new(big.Int).SetString(x, 10)
	b, _ := new(big.Int).SetString(y, 10)
	if want := new(big.Int).Add(a, b).String(); got != want {
		t.Fatalf("%q: answer %s, want %s", prompt, got, want)
	}
}

func TestVocabFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if err := WriteVocab(dir, NewAddition()); err != nil {
		t.Fatal(err)
	}
	task, ok, err := LoadVocab(dir)
	if err != nil || !ok || task.Name() != "addition" {
		t.Fatalf("LoadVocab = %v, %v, %v", task, ok, err)
	}
	if _, err := ParseVocab([]byte(`{"task":"addition","tokens":["<pad>","<bos>","1","0"]}`), "x.json"); err == nil {
		t.Error("a vocabulary that differs from the task's was accepted")
	}
	if _, ok, err := LoadVocab(t.TempDir()); ok || err != nil {
		t.Errorf("a folder without vocab.json: ok %v, err %v", ok, err)
	}
}
