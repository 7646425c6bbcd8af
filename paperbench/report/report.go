// Package report writes a self-contained HTML report of one PaperBench run group, with
// its plots as PNG and SVG files beside it: ARS per paper with standard-error bars, the
// score per task category, the leaves most often failed, and score against agent cost and
// working time where the seeds record them. The page needs no network: its style is
// inline and its figures are embedded as data URIs. Seeds that are still running, failed
// reproductions, invalid leaves and malformed files are shown as such.
package report

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot/plotter"

	"github.com/latentlab/latent/internal/atomicfile"
	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/rungroup"
)

// IndexFile is the report page in the output folder.
const IndexFile = "index.html"

// TopFailed is how many of the most often failed leaves the report lists.
const TopFailed = 20

//go:embed report.html.tmpl
var pageSource string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"score": formatScore, "pm": formatSE, "hours": formatHours, "usd": formatUSD,
	"pct": func(a, b int) string { return fmt.Sprintf("%.0f %%", 100*float64(a)/float64(b)) },
}).Parse(pageSource))

// Report is a group's summary and figures.
type Report struct {
	Group      *rungroup.Group
	Summary    rungroup.Summary
	Figures    []figure
	Categories []string
}

// Build summarises g and draws its figures.
func Build(g *rungroup.Group) (*Report, error) {
	r := &Report{Group: g, Summary: rungroup.Summarize(g), Categories: rubric.Categories}
	s := r.Summary
	var labels []string
	var means, ses []float64
	for _, p := range s.Papers {
		labels = append(labels, fmt.Sprintf("%s (%d)", p.ID, p.Score.N))
		means, ses = append(means, p.Score.Mean), append(ses, p.Score.SE)
	}
	if err := r.add(bars("ars", "Score per paper (mean ± SE over graded seeds)", "score", labels, means, ses, blue)); err != nil {
		return nil, err
	}
	labels, means, ses = nil, nil, nil
	for _, c := range rubric.Categories {
		m, ok := s.Categories[c]
		if !ok {
			continue
		}
		labels = append(labels, fmt.Sprintf("%s (%d papers)", c, m.N))
		means, ses = append(means, m.Mean), append(ses, m.SE)
	}
	if err := r.add(bars("categories", "Score per task category (mean ± SE over papers)", "score", labels, means, ses, green)); err != nil {
		return nil, err
	}
	if err := r.failedFigure(); err != nil {
		return nil, err
	}
	return r, r.spendFigures()
}

// add keeps a drawn figure; a figure without data is left out.
func (r *Report) add(f figure, err error) error {
	switch {
	case errors.Is(err, errNoData):
		return nil
	case err == nil:
		r.Figures = append(r.Figures, f)
	}
	return err
}

// failedFigure draws the failure rate of the most often failed leaves.
func (r *Report) failedFigure() error {
	failed := r.Summary.Failed[:min(15, len(r.Summary.Failed))]
	if len(failed) == 0 {
		return nil
	}
	var labels []string
	var rates, none []float64
	for _, f := range failed {
		labels = append(labels, shorten(f.Paper+": "+f.Requirements, 60))
		rates, none = append(rates, float64(f.Failed)/float64(f.Graded)), append(none, math.NaN())
	}
	return r.add(bars("failed", "Leaves most often failed (share of graded seeds)", "failed in share of seeds", labels, rates, none, orange))
}

// spendFigures plots score against agent cost and working time, where seeds record them.
func (r *Report) spendFigures() error {
	var cost, hours plotter.XYs
	for _, p := range r.Summary.Points {
		if p.CostUSD != nil {
			cost = append(cost, plotter.XY{X: *p.CostUSD, Y: p.Score})
		}
		if p.WorkingSeconds != nil {
			hours = append(hours, plotter.XY{X: *p.WorkingSeconds / 3600, Y: p.Score})
		}
	}
	if len(cost) > 0 {
		if err := r.add(scatter("cost", "Score against agent cost (one point per seed)", "agent cost (USD)", cost)); err != nil {
			return err
		}
	}
	if len(hours) > 0 {
		return r.add(scatter("time", "Score against working time (one point per seed)", "working time (hours)", hours))
	}
	return nil
}

// Write renders the report into out: index.html and each figure's PNG and SVG.
func (r *Report) Write(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, f := range r.Figures {
		if err := atomicfile.WriteFile(filepath.Join(out, f.Name+".png"), f.PNG); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(out, f.Name+".svg"), f.SVG); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, r); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(out, IndexFile), buf.Bytes())
}

// FailedLeaves returns the [TopFailed] leaves most often failed.
func (r *Report) FailedLeaves() []rungroup.FailedLeaf {
	return r.Summary.Failed[:min(TopFailed, len(r.Summary.Failed))]
}

// DataURI embeds the figure's SVG in the page.
func (f figure) DataURI() template.URL {
	return template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(f.SVG))
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func formatScore(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.3f", x)
}

func formatSE(m rungroup.MeanSE) string {
	if math.IsNaN(m.Mean) {
		return "–"
	}
	if math.IsNaN(m.SE) {
		return formatScore(m.Mean)
	}
	return fmt.Sprintf("%.3f ± %.3f", m.Mean, m.SE)
}

func formatHours(s *float64) string {
	if s == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f h", *s/3600)
}

func formatUSD(c *float64) string {
	if c == nil {
		return "–"
	}
	return fmt.Sprintf("$%.2f", *c)
}
