package tasks

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// render writes the inputs of ex as token names separated by spaces, with each label after a
// slash: "=/5".
func render(t Task, ex Example) string {
	v := t.Vocab()
	var out []string
	for i, id := range ex.Inputs {
		s := v.Name(id)
		if ex.Labels[i] != Ignore {
			s += "/" + v.Name(ex.Labels[i])
		}
		out = append(out, s)
	}
	return joinSpace(out)
}

func joinSpace(s []string) string {
	r := ""
	for i, x := range s {
		if i > 0 {
			r += " "
		}
		r += x
	}
	return r
}

func TestHandMadeLayouts(t *testing.T) {
	cases := []struct {
		task, prompt, layout, answer string
		difficulty                   int
	}{
		{"parity", "0110 1", "<bos> 0/0 1/1 1/0 0/0 1/1", "01001", 5},
		{"addition", "12345+67890=", "<bos> 5 0 =/5 4 9 =/3 3 8 =/2 2 7 =/0 1 6 =/8 0 0 =/0", "80235", 3},
		{"addition", "999+1", "<bos> 9 1 =/0 9 0 =/0 9 0 =/0 0 0 =/1", "1000", 3},
		{"addition", "0+0=", "<bos> 0 0 =/0 0 0 =/0", "0", 0},
		{"pointer", "ce ac eb ba >a???", "<bos> c e a c e b b a > a ?/c ?/e ?/b", "ceb", 3},
	}
	for _, c := range cases {
		task, err := ByName(c.task)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := task.Parse(c.prompt)
		if err != nil {
			t.Fatalf("%s %q: %v", c.task, c.prompt, err)
		}
		if got := render(task, ex); got != c.layout {
			t.Errorf("%s %q: layout\n got %s\nwant %s", c.task, c.prompt, got, c.layout)
		}
		if got := task.Answer(ex, ex.Labels); got != c.answer {
			t.Errorf("%s %q: answer from the labels %q, want %q", c.task, c.prompt, got, c.answer)
		}
		if ex.Difficulty != c.difficulty {
			t.Errorf("%s %q: difficulty %d, want %d", c.task, c.prompt, ex.Difficulty, c.difficulty)
		}
	}
}

func TestBatcherRows(t *testing.T) {
	task := NewAddition()
	b, err := NewBatcher(task, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	T := b.SeqLen()
	batch, err := b.Next(rand.New(rand.NewPCG(1, 2)), 8, T)
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 8; r++ {
		row, labels := batch.Inputs[r*T:(r+1)*T], batch.Labels[r*T:(r+1)*T]
		if row[0] != BOSID {
			t.Fatalf("row %d does not start with <bos>: %v", r, row)
		}
		end := slices.Index(row, PadID)
		if end < 0 {
			end = T
		}
		ex, err := task.Parse(keyOfRow(task, row[:end]))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ex.Labels, labels[:end]) {
			t.Errorf("row %d: labels %v, want %v", r, labels[:end], ex.Labels)
		}
		for i := end; i < T; i++ {
			if labels[i] != Ignore {
				t.Errorf("row %d: padding at %d carries label %d", r, i, labels[i])
			}
		}
	}
	if _, err := b.Next(rand.New(rand.NewPCG(1, 2)), 1, T-1); err == nil {
		t.Error("a sequence length too short for the largest instance was accepted")
	}
}

// keyOfRow rebuilds "A+B" from an addition row (digit triples least significant first, the
// last triple being the zero padding for the carry out).
func keyOfRow(task *Addition, row []int) string {
	var a, b string
	for i := 1; i+3 < len(row); i += 3 {
		a = task.Vocab().Name(row[i]) + a
		b = task.Vocab().Name(row[i+1]) + b
	}
	return a + "+" + b
}
