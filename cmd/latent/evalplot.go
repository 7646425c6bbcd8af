package main

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"github.com/latentlab/latent/internal/figure"
	"github.com/latentlab/latent/internal/palette"
	"github.com/latentlab/latent/tasks"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The eval figure: 8 × 5 inches, the PNG at 192 dpi (1536 × 960 px), the legend in a column of
// its own to the right of the axes so it never covers a curve.
const (
	plotWidth, plotHeight = 8 * vg.Inch, 5 * vg.Inch
	legendWidth           = 1.9 * vg.Inch
	plotDPI               = 192
)

// Series are told apart by colour, marker and dash pattern, and dodged sideways a little (on the
// log axis) so that curves lying on top of each other stay visible.
var (
	plotShapes = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{},
		draw.PlusGlyph{}, draw.CrossGlyph{}, draw.RingGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{}}
	plotDashes = [][]vg.Length{nil, {6, 3}, {2, 2}, {8, 3, 2, 3}}
)

const dodge = 0.025 // sideways offset between neighbouring series, in decades of the step axis

// wilson returns the 95 % Wilson score interval of k successes in n trials.
func wilson(k float64, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	nf := float64(n)
	p := k / nf
	den := 1 + z*z/nf
	centre := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return max(centre-half, 0), min(centre+half, 1)
}

// accuracyPoints are one series' points with their Wilson intervals, in percent.
type accuracyPoints struct {
	plotter.XYs
	plotter.YErrors
}

func newAccuracyPoints(xs, acc []float64, n int, shift float64) accuracyPoints {
	pts := accuracyPoints{XYs: make(plotter.XYs, len(xs)), YErrors: make(plotter.YErrors, len(xs))}
	for i, x := range xs {
		lo, hi := wilson(acc[i]*float64(n), n)
		pts.XYs[i] = plotter.XY{X: x * math.Pow(10, shift), Y: 100 * acc[i]}
		pts.YErrors[i] = struct{ Low, High float64 }{100 * (acc[i] - lo), 100 * (hi - acc[i])}
	}
	return pts
}

// plotAccuracy draws exact match against recurrence steps (log scale), one series per size with
// 95 % Wilson intervals, and, when adaptive compute ran, each size's adaptive result as a
// star at its mean steps. It writes PREFIX.png and PREFIX.svg.
func plotAccuracy(tab *tasks.Table, adaptive *tasks.AdaptiveReport, task tasks.Task, prefix string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: exact match vs recurrence steps", tab.Task)
	p.X.Label.Text = "recurrence steps r (log scale)"
	p.Y.Label.Text = fmt.Sprintf("exact match (%%), 95 %% Wilson interval over %d instances", tab.Instances)
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	steps := make([]float64, len(tab.Steps))
	for j, s := range tab.Steps {
		steps[j] = float64(s)
		ticks = append(ticks, plot.Tick{Value: float64(s), Label: strconv.Itoa(s)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = steps[0]/1.25, steps[len(steps)-1]*1.25
	p.Y.Min, p.Y.Max = -3, 103
	p.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	mid := float64(len(tab.Lengths)-1) / 2
	for i, size := range tab.Lengths {
		pts := newAccuracyPoints(steps, tab.Accuracy[i], tab.Instances, dodge*(float64(i)-mid))
		label := fmt.Sprintf("%d %s", size, task.SizeName())
		if err := addSizeSeries(p, &leg, i, pts, label); err != nil {
			return err
		}
		if adaptive != nil {
			if err := addAdaptivePoint(p, &leg, i, size, label, adaptive, tab.Instances); err != nil {
				return err
			}
		}
	}
	p.BackgroundColor = color.White
	err := figure.Save(prefix, plotWidth, plotHeight, plotDPI, func(dc draw.Canvas) {
		p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
		leg.Draw(draw.Crop(dc, plotWidth-legendWidth+vg.Points(6), 0, 0, -vg.Inch/2))
	})
	if err != nil {
		return fmt.Errorf("eval: plot: %w", err)
	}
	return nil
}

// addSizeSeries adds one size's accuracy curve with its error bars.
func addSizeSeries(p *plot.Plot, leg *plot.Legend, i int, pts accuracyPoints, label string) error {
	c := palette.Of(i)
	line, points, err := plotter.NewLinePoints(pts.XYs)
	if err != nil {
		return fmt.Errorf("eval: plot: %w", err)
	}
	line.Color, points.Color = c, c
	line.Width = vg.Points(1.5)
	line.Dashes = plotDashes[i%len(plotDashes)]
	points.Shape, points.Radius = plotShapes[i%len(plotShapes)], vg.Points(3.5)
	bars, err := plotter.NewYErrorBars(pts)
	if err != nil {
		return fmt.Errorf("eval: plot: %w", err)
	}
	bars.Color, bars.CapWidth = c, vg.Points(5)
	p.Add(bars, line, points)
	leg.Add(label, line, points)
	return nil
}

// addAdaptivePoint marks the adaptive result of one size at its mean steps per answer token.
func addAdaptivePoint(p *plot.Plot, leg *plot.Legend, i, size int, label string, rep *tasks.AdaptiveReport, n int) error {
	for _, row := range rep.Rows {
		if row.Size != size {
			continue
		}
		pts := newAccuracyPoints([]float64{row.MeanSteps}, []float64{row.Accuracy}, n, 0)
		star, err := plotter.NewScatter(pts.XYs)
		if err != nil {
			return fmt.Errorf("eval: plot: %w", err)
		}
		star.Shape, star.Radius = starGlyph{}, vg.Points(7)
		star.Color = palette.Of(i)
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return fmt.Errorf("eval: plot: %w", err)
		}
		bars.Color = star.Color
		p.Add(bars, star)
		leg.Add(fmt.Sprintf("%s, exit %s", label, rep.Criterion), star)
	}
	return nil
}

// starGlyph draws a filled five-pointed star.
type starGlyph struct{}

func (starGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetColor(sty.Color)
	var path vg.Path
	for k := range 10 {
		r := sty.Radius
		if k%2 == 1 {
			r *= 0.45
		}
		a := math.Pi/2 + float64(k)*math.Pi/5
		q := vg.Point{X: pt.X + r*vg.Length(math.Cos(a)), Y: pt.Y + r*vg.Length(math.Sin(a))}
		if k == 0 {
			path.Move(q)
		} else {
			path.Line(q)
		}
	}
	path.Close()
	c.Fill(path)
}
