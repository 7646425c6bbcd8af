package judge

import (
	"maps"
	"slices"
	"strings"

	"github.com/latentlab/latent/paperbench/llm"
)

// Price is what a model costs in US dollars per million tokens.
type Price struct {
	In  float64 `json:"in"`
	Out float64 `json:"out"`
}

// DefaultPrices are list prices per model name prefix (USD per million tokens). The
// o3-mini, o1 and gpt-4o prices are the ones the official JudgeEval cost table uses; the
// others are OpenAI list prices of 2025. Override them with the CLI's price flags.
var DefaultPrices = map[string]Price{
	"o3-mini":      {1.10, 4.40},
	"o1-mini":      {1.10, 4.40},
	"o4-mini":      {1.10, 4.40},
	"o1":           {15, 60},
	"o3":           {2, 8},
	"gpt-4o-mini":  {0.15, 0.60},
	"gpt-4o":       {2.50, 10},
	"gpt-4.1-nano": {0.10, 0.40},
	"gpt-4.1-mini": {0.40, 1.60},
	"gpt-4.1":      {2, 8},
}

// ContextWindows are the context lengths in tokens per model name prefix (the official
// n_ctx table: 200k for o1, o3, o3-mini; 128k for gpt-4o, gpt-4o-mini, o1-mini).
var ContextWindows = map[string]int{
	"o1-mini": 128_000,
	"o1":      200_000,
	"o3":      200_000,
	"o4-mini": 200_000,
	"gpt-4o":  128_000,
	"gpt-4.1": 1_047_576,
}

// DefaultContextWindow is the context length assumed for a model not in [ContextWindows].
const DefaultContextWindow = 128_000

// lookupModel returns the entry of the longest prefix of model in table.
func lookupModel[V any](table map[string]V, model string) (V, bool) {
	var best V
	bestLen := -1
	for prefix, v := range table {
		if strings.HasPrefix(model, prefix) && len(prefix) > bestLen {
			best, bestLen = v, len(prefix)
		}
	}
	return best, bestLen >= 0
}

// ContextWindow returns the context length of model.
func ContextWindow(model string) int {
	if n, ok := lookupModel(ContextWindows, model); ok {
		return n
	}
	return DefaultContextWindow
}

// Usage counts tokens per model (the official token_usage: {model: {in, out}}).
type Usage map[string]llm.Usage

// Add counts u for model.
func (u Usage) Add(model string, in llm.Usage) {
	t := u[model]
	t.In += in.In
	t.Out += in.Out
	u[model] = t
}

// Merge adds all of other.
func (u Usage) Merge(other Usage) {
	for model, t := range other {
		u.Add(model, t)
	}
}

// Cost prices the usage with prices (looked up by longest model-name prefix) and returns
// the cost in US dollars and the models that have no price.
func (u Usage) Cost(prices map[string]Price) (dollars float64, unpriced []string) {
	for _, model := range slices.Sorted(maps.Keys(u)) {
		p, ok := lookupModel(prices, model)
		if !ok {
			unpriced = append(unpriced, model)
			continue
		}
		t := u[model]
		dollars += (float64(t.In)*p.In + float64(t.Out)*p.Out) / 1e6
	}
	return dollars, unpriced
}

// Total returns the tokens summed over models.
func (u Usage) Total() llm.Usage {
	var t llm.Usage
	for _, m := range u {
		t.In += m.In
		t.Out += m.Out
	}
	return t
}

// PriceOf returns the price of model in prices (by longest name prefix).
func PriceOf(prices map[string]Price, model string) (Price, bool) {
	return lookupModel(prices, model)
}
