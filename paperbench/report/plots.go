package report

import (
	"errors"
	"fmt"
	fig "github.com/latentlab/latent/internal/figure"
	"image/color"
	"math"

	"github.com/latentlab/latent/internal/palette"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figures are 8 inches wide, PNGs at 144 dpi; colours from the Okabe–Ito palette.
const (
	figWidth = 8 * vg.Inch
	pngDPI   = 144
)

var (
	blue   = palette.Blue
	orange = palette.Vermillion
	green  = palette.BluishGreen
)

// figure is one rendered plot.
type figure struct {
	Name     string // file stem
	Title    string
	PNG, SVG []byte
}

// render draws p as PNG and SVG.
func render(name string, p *plot.Plot, height vg.Length) (figure, error) {
	f := figure{Name: name, Title: p.Title.Text}
	png, svg, err := fig.Render(figWidth, height, pngDPI, func(c draw.Canvas) { p.Draw(c) })
	if err != nil {
		return f, fmt.Errorf("report: %s: %w", name, err)
	}
	f.PNG, f.SVG = png, svg
	return f, nil
}

// bars is a horizontal bar chart of values with ± errors (NaN errors draw no bar), one
// labelled row per value, the first row on top.
func bars(name, title, xlabel string, labels []string, values, errs []float64, c color.Color) (figure, error) {
	n := len(values)
	if n == 0 {
		return figure{}, errNoData
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.X.Min, p.X.Max = 0, 1
	// Rows are drawn bottom-up: reverse so that the first label is on top.
	rev := func(i int) int { return n - 1 - i }
	vals := make(plotter.Values, n)
	names := make([]string, n)
	for i := range values {
		vals[rev(i)] = zeroNaN(values[i])
		names[rev(i)] = labels[i]
	}
	b, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return figure{}, fmt.Errorf("report: %s: %w", name, err)
	}
	b.Horizontal, b.Color, b.LineStyle.Width = true, c, 0
	p.Add(plotter.NewGrid(), b)
	p.NominalY(names...)
	var eb errPoints
	for i := range values {
		if e := errs[i]; !math.IsNaN(e) && e > 0 && !math.IsNaN(values[i]) {
			eb.XYs = append(eb.XYs, plotter.XY{X: values[i], Y: float64(rev(i))})
			eb.XErrors = append(eb.XErrors, struct{ Low, High float64 }{e, e})
		}
	}
	if len(eb.XYs) > 0 {
		e, err := plotter.NewXErrorBars(eb)
		if err != nil {
			return figure{}, fmt.Errorf("report: %s: %w", name, err)
		}
		e.CapWidth, e.Width = vg.Points(6), vg.Points(1.2)
		p.Add(e)
	}
	return render(name, p, vg.Length(max(n, 3))*0.32*vg.Inch+1.3*vg.Inch)
}

// errNoData marks a figure left out for want of data.
var errNoData = errors.New("no data")

type errPoints struct {
	plotter.XYs
	plotter.XErrors
}

func zeroNaN(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return x
}

// scatter plots the points (x, score).
func scatter(name, title, xlabel string, xys plotter.XYs) (figure, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "score"
	p.Y.Min, p.Y.Max = 0, 1
	p.X.Min = 0
	for _, xy := range xys {
		p.X.Max = max(p.X.Max, 1.08*xy.X) // room for the marker of the largest
	}
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return figure{}, fmt.Errorf("report: %s: %w", name, err)
	}
	s.Color, s.Shape, s.Radius = orange, draw.CircleGlyph{}, vg.Points(4)
	p.Add(plotter.NewGrid(), s)
	return render(name, p, 4*vg.Inch)
}
