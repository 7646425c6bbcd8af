package defaultmodel_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tasks"
)

// stressDepths are the fixed recurrences the adaptive exit is compared with.
var stressDepths = []int{1, 2, 4, 8, 16, 32}

// stressRow is one longest-carry-chain length of the stress set.
type stressRow struct {
	sums, right, indepRight int
	digits, steps           int
	fixedRight              []int
}

// TestCarryStress runs `latent run`'s default (kl < DefaultKLThreshold, causal exit, at most
// 4 r̄ steps) on the addition carry stress set: every operand length 1–10, every longest carry
// chain 0–n, three sums per cell. It must be right on at least 99.9 % of the sums, think longer
// where the chain is longer, and spend fewer mean steps than the smallest fixed depth that is as
// accurate. It logs the table of the issue (go test -run CarryStress -v ./model/defaultmodel).
func TestCarryStress(t *testing.T) {
	m, task := load(t)
	add := task.(*tasks.Addition)
	set, err := add.CarryStress(2, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	thr := tasks.DefaultKLThreshold
	opt := tasks.AdaptiveOptions{Criterion: "kl", Threshold: &thr, MaxSteps: 4 * m.Config.MeanRecurrence,
		Init: tasks.InitState{Scale: 1, Seed: 2}}
	rows := make([]stressRow, 11)
	byDigitDepth := map[int][2]int{} // carry chain into the digit → positions, steps
	for _, ex := range set {
		r := &rows[ex.Difficulty]
		if r.fixedRight == nil {
			r.fixedRight = make([]int, len(stressDepths))
		}
		r.sums++
		res := solve(t, m, ex, opt)
		if task.Answer(ex, res.Pred) == task.Answer(ex, ex.Labels) {
			r.right++
		}
		for _, p := range ex.AnswerPositions() {
			r.digits++
			r.steps += res.ExitSteps[p]
			d := byDigitDepth[ex.Depth[p]]
			byDigitDepth[ex.Depth[p]] = [2]int{d[0] + 1, d[1] + res.ExitSteps[p]}
		}
		indep := opt
		indep.IndependentExit = true
		if res := solve(t, m, ex, indep); task.Answer(ex, res.Pred) == task.Answer(ex, ex.Labels) {
			r.indepRight++
		}
		preds, err := tasks.Trajectory(m, ex.Inputs, stressDepths, opt.Init)
		if err != nil {
			t.Fatal(err)
		}
		for j, pred := range preds {
			if task.Answer(ex, pred) == task.Answer(ex, ex.Labels) {
				r.fixedRight[j]++
			}
		}
	}
	total := stressTotal(rows)
	t.Log("\n" + stressTable(rows, total, byDigitDepth))

	acc := float64(total.right) / float64(total.sums)
	if acc < 0.999 {
		t.Errorf("default exit: %d of %d stress sums right (%.2f %%), want ≥ 99.9 %%", total.right, total.sums, 100*acc)
	}
	mean := float64(total.steps) / float64(total.digits)
	for j, r := range stressDepths {
		if total.fixedRight[j] >= total.right {
			if mean >= float64(r) {
				t.Errorf("default exit spends %.2f mean steps, not fewer than fixed r=%d, which is as accurate", mean, r)
			}
			break
		}
	}
	short, long := stepsPerDigit(rows[0]), stepsPerDigit(rows[10])
	if mid := stepsPerDigit(rows[5]); !(short < mid && mid < long) {
		t.Errorf("mean steps per digit at carry chains 0, 5, 10: %.2f, %.2f, %.2f; want increasing", short, mid, long)
	}
}

func solve(t *testing.T, m *model.Model, ex tasks.Example, opt tasks.AdaptiveOptions) tasks.Solved {
	t.Helper()
	res, err := tasks.SolveAdaptive(m, ex, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func stepsPerDigit(r stressRow) float64 { return float64(r.steps) / float64(max(r.digits, 1)) }

func stressTotal(rows []stressRow) stressRow {
	total := stressRow{fixedRight: make([]int, len(stressDepths))}
	for _, r := range rows {
		total.sums += r.sums
		total.right += r.right
		total.indepRight += r.indepRight
		total.digits += r.digits
		total.steps += r.steps
		for j, n := range r.fixedRight {
			total.fixedRight[j] += n
		}
	}
	return total
}

// stressTable renders the rows as the markdown table of model/defaultmodel/README.md.
func stressTable(rows []stressRow, total stressRow, byDigitDepth map[int][2]int) string {
	var b strings.Builder
	head := "| longest chain | sums | default (causal kl) | steps/digit | independent kl |"
	for _, r := range stressDepths {
		head += fmt.Sprintf(" r=%d |", r)
	}
	fmt.Fprintln(&b, head)
	fmt.Fprintln(&b, "|"+strings.Repeat("---|", 5+len(stressDepths)))
	pct := func(a, n int) string { return fmt.Sprintf("%.1f", 100*float64(a)/float64(max(n, 1))) }
	line := func(name string, r stressRow) {
		s := fmt.Sprintf("| %s | %d | %s | %.2f | %s |", name, r.sums, pct(r.right, r.sums), stepsPerDigit(r), pct(r.indepRight, r.sums))
		for _, n := range r.fixedRight {
			s += " " + pct(n, r.sums) + " |"
		}
		fmt.Fprintln(&b, s)
	}
	for L, r := range rows {
		line(fmt.Sprint(L), r)
	}
	line("all", total)
	fmt.Fprintln(&b, "\n| carry chain into the digit | digits | mean steps |\n|---|---|---|")
	for d := 0; d < len(rows); d++ {
		if v, ok := byDigitDepth[d]; ok {
			fmt.Fprintf(&b, "| %d | %d | %.2f |\n", d, v[0], float64(v[1])/float64(v[0]))
		}
	}
	return b.String()
}
