package generate

import (
	"math"
	"testing"
)

func TestLogprobs(t *testing.T) {
	logits := []float32{1, 3, 2, 3, -1}
	lp := Logprobs(logits, 0, 3)
	sum := 0.0
	for _, l := range logits {
		sum += math.Exp(float64(l))
	}
	if want := 1 - math.Log(sum); math.Abs(lp.Logprob-want) > 1e-12 {
		t.Errorf("logprob %v, want %v", lp.Logprob, want)
	}
	ids := []int{}
	for _, a := range lp.Top {
		ids = append(ids, a.ID)
	}
	if len(ids) != 3 || ids[0] != 1 || ids[1] != 3 || ids[2] != 2 {
		t.Errorf("top ids %v, want [1 3 2] (ties in id order)", ids)
	}
	if got := Logprobs(logits, 4, 0); len(got.Top) != 0 || got.Logprob >= lp.Logprob {
		t.Errorf("top 0: %+v", got)
	}
}
