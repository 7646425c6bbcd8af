// Package judgeeval measures how well a judge agrees with human graders, like the official
// JudgeEval: the judge grades each example's human-graded tree (expected_result.json, used
// as the rubric), and every predicted leaf is compared with the human leaf of the same id.
//
// The metrics are those of the official compute_metrics (scikit-learn accuracy and macro
// precision, recall and F1 with zero_division=0, plus num_positives, num_negatives and
// num_samples), computed per example and pooled over the leaves of all examples, overall
// and per task category. Predictions the judge marked invalid are dropped with the human
// score they would be compared with.
package judgeeval

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/latentlab/latent/paperbench/rubric"
)

// Sample is one compared leaf: the judge's score and the human one.
type Sample struct {
	Path     string  `json:"path"`
	ID       string  `json:"id"`
	Category string  `json:"task_category"`
	Pred     float64 `json:"predicted"`
	True     float64 `json:"expected"`
}

// Float is a metric that may be undefined (NaN, written as JSON null), as every metric of
// an empty set of samples is.
type Float float64

// MarshalJSON writes NaN as null.
func (f Float) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(f), 'g', -1, 64), nil
}

// UnmarshalJSON reads null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	err := json.Unmarshal(b, &v)
	*f = Float(v)
	return err
}

// Metrics are the official compute_metrics figures of a set of samples.
type Metrics struct {
	Accuracy     Float `json:"accuracy"`
	Precision    Float `json:"precision"` // macro average over the labels present
	Recall       Float `json:"recall"`
	F1           Float `json:"f1"`
	NumPositives int   `json:"num_positives"` // human score 1
	NumNegatives int   `json:"num_negatives"`
	NumSamples   int   `json:"num_samples"`
}

// Summary holds the metrics overall and per task category (the official JudgeMetrics).
type Summary struct {
	Overall    Metrics            `json:"overall"`
	Stratified map[string]Metrics `json:"stratified"`
}

// Confusion counts the binary outcomes, with 1 ("requirement met") as the positive label.
type Confusion struct {
	TP int `json:"true_positives"`  // judge 1, human 1
	FP int `json:"false_positives"` // judge 1, human 0
	FN int `json:"false_negatives"` // judge 0, human 1
	TN int `json:"true_negatives"`  // judge 0, human 0
}

// Add counts o into c.
func (c *Confusion) Add(o Confusion) {
	c.TP += o.TP
	c.FP += o.FP
	c.FN += o.FN
	c.TN += o.TN
}

// ConfusionOf counts the samples' outcomes.
func ConfusionOf(samples []Sample) Confusion {
	var c Confusion
	for _, s := range samples {
		switch {
		case s.Pred == 1 && s.True == 1:
			c.TP++
		case s.Pred == 1:
			c.FP++
		case s.True == 1:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

// Compute returns the metrics of the samples, whose scores are 0 or 1. Like scikit-learn's
// macro average, precision, recall and F1 are averaged over the labels that occur among
// the human or the judge's scores (so over one label when all scores agree on it); a
// label's precision or recall with a zero denominator counts 0 (zero_division=0). All
// four are NaN when there are no samples.
func Compute(samples []Sample) Metrics {
	c := ConfusionOf(samples)
	n := len(samples)
	m := Metrics{NumSamples: n, NumPositives: c.TP + c.FN, NumNegatives: c.FP + c.TN}
	if n == 0 {
		nan := Float(math.NaN())
		m.Accuracy, m.Precision, m.Recall, m.F1 = nan, nan, nan, nan
		return m
	}
	m.Accuracy = Float(float64(c.TP+c.TN) / float64(n))
	// Per label: label 1 sees the confusion as is, label 0 with the roles swapped.
	labels := []struct{ tp, fp, fn int }{{c.TP, c.FP, c.FN}, {c.TN, c.FN, c.FP}}
	var p, r, f float64
	present := 0
	for _, l := range labels {
		if l.tp+l.fp+l.fn == 0 {
			continue // the label occurs nowhere
		}
		present++
		p += ratio(l.tp, l.tp+l.fp)
		r += ratio(l.tp, l.tp+l.fn)
		f += ratio(2*l.tp, 2*l.tp+l.fp+l.fn)
	}
	m.Precision = Float(p / float64(present))
	m.Recall = Float(r / float64(present))
	m.F1 = Float(f / float64(present))
	return m
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Summarize computes the metrics overall and per category. The official categories are
// always present (with NaN metrics when they have no samples), like the official pooled
// report; other categories appear when they have samples.
func Summarize(samples []Sample) Summary {
	s := Summary{Overall: Compute(samples), Stratified: map[string]Metrics{}}
	for _, cat := range Categories(samples) {
		s.Stratified[cat] = Compute(slices.DeleteFunc(slices.Clone(samples),
			func(x Sample) bool { return x.Category != cat }))
	}
	return s
}

// Categories lists the official task categories, then any other category of the samples
// in sorted order.
func Categories(samples []Sample) []string {
	cats := slices.Clone(rubric.Categories)
	var extra []string
	for _, s := range samples {
		if !slices.Contains(cats, s.Category) && !slices.Contains(extra, s.Category) {
			extra = append(extra, s.Category)
		}
	}
	slices.Sort(extra)
	return append(cats, extra...)
}
