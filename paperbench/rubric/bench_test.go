package rubric

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

// stdNode is the baseline: the same tree read by encoding/json with reflection, without
// limits, positions or validation.
type stdNode struct {
	ID                  string     `json:"id"`
	Requirements        string     `json:"requirements"`
	Weight              float64    `json:"weight"`
	SubTasks            []*stdNode `json:"sub_tasks"`
	TaskCategory        *string    `json:"task_category"`
	FinegrainedCategory *string    `json:"finegrained_task_category"`
}

func pinnRubric(b *testing.B) []byte {
	data, err := os.ReadFile(fixtures.Path(b, "paperbench", "papers", "pinn", "rubric.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	return data
}

func BenchmarkParsePinn(b *testing.B) {
	data := pinnRubric(b)
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStdlibUnmarshalPinn(b *testing.B) {
	data := pinnRubric(b)
	for b.Loop() {
		var n stdNode
		if err := json.Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
	}
}
