package trace

import (
	"fmt"
	"image/color"
	"math"

	"github.com/latentlab/latent/internal/palette"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// labelColours give every label its Okabe–Ito colour.
var labelColours = map[string]color.RGBA{
	FixedPoint:   palette.SkyBlue,
	Converging:   palette.BluishGreen,
	Orbit:        palette.Vermillion,
	Slider:       palette.ReddishPurple,
	NotConverged: palette.Orange,
}

// ExitStep is the first readout step at which the KL between consecutive readouts falls below
// threshold (the kl exit criterion), or 0 when it never does within the trace.
func ExitStep(readouts []Readout, threshold float64) int {
	for _, r := range readouts {
		if r.KL < threshold {
			return r.Step
		}
	}
	return 0
}

// TextPicture draws the traced text twice, token by token: coloured by label, and coloured by
// the step at which the kl exit criterion would stop it (blue early to red late, log scale; grey
// where it never stops within the trace). It writes prefix.png and prefix.svg.
func TextPicture(tokens []Token, steps int, threshold float64, prefix string) error {
	const perLine = 16
	lines := (len(tokens) + perLine - 1) / perLine
	cell, row := 1.6*vg.Centimeter, 0.9*vg.Centimeter
	width := perLine*cell + 2*vg.Centimeter
	block := vg.Length(lines)*row + 1.6*vg.Centimeter
	height := 2*block + 1.5*vg.Centimeter
	cm := moreland.SmoothBlueRed()
	cm.SetMin(0)
	cm.SetMax(math.Log2(float64(max(steps, 2))))
	font := plot.DefaultTextHandler
	return saveBoth(prefix, width, height, func(dc draw.Canvas) {
		sty := draw.TextStyle{Color: color.Black, Font: plot.DefaultFont, Handler: font}
		sty.Font.Size = vg.Points(9)
		title := sty
		title.Font.Size = vg.Points(11)
		top := dc.Max.Y - 0.6*vg.Centimeter
		legend := func(y vg.Length, text string) {
			dc.FillText(title, vg.Point{X: dc.Min.X + 0.5*vg.Centimeter, Y: y}, text)
		}
		legend(top, "by label: fixed point (sky blue), converging (green), orbit (vermillion), slider (purple), not converged (orange)")
		drawTokens(dc, tokens, perLine, cell, row, top-0.7*vg.Centimeter, sty, func(t Token) color.Color { return labelColours[t.Label] })
		top -= block
		legend(top, fmt.Sprintf("by kl exit step (KL < %g; blue = early, red = step %d, log scale, grey = never)", threshold, steps))
		drawTokens(dc, tokens, perLine, cell, row, top-0.7*vg.Centimeter, sty, func(t Token) color.Color {
			if t.ExitStep == 0 {
				return color.Gray{Y: 170}
			}
			c, err := cm.At(math.Log2(float64(t.ExitStep)))
			if err != nil {
				return color.Gray{Y: 170}
			}
			return c
		})
	})
}

// drawTokens lays the tokens out perLine to a row from y downwards, each in a box filled by fill.
func drawTokens(dc draw.Canvas, tokens []Token, perLine int, cell, row, y vg.Length, sty draw.TextStyle, fill func(Token) color.Color) {
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
	for k, t := range tokens {
		x0 := dc.Min.X + vg.Centimeter + vg.Length(k%perLine)*cell
		y0 := y - vg.Length(k/perLine)*row
		box := vg.Rectangle{Min: vg.Point{X: x0, Y: y0 - row + 2}, Max: vg.Point{X: x0 + cell - 2, Y: y0}}
		dc.SetColor(fill(t))
		dc.Fill(box.Path())
		text := t.Text
		if r := []rune(text); len(r) > 8 {
			text = string(r[:7]) + "…"
		}
		dc.FillText(sty, vg.Point{X: x0 + (cell-2)/2, Y: y0 - row/2 + 1}, visible(text))
	}
}

// visible shows whitespace tokens as symbols.
func visible(s string) string {
	out := []rune{}
	for _, r := range s {
		switch r {
		case ' ':
			r = '·'
		case '\n':
			r = '↵'
		case '\t':
			r = '→'
		}
		out = append(out, r)
	}
	return string(out)
}

// PathIndependence draws, per extra seed, the median (solid) and largest (dashed) relative
// distance over tokens between its trace and the first seed's, against the step, on a log
// scale. It writes prefix.png and prefix.svg.
func PathIndependence(median, largest [][]float64, seeds []uint64, prefix string) error {
	p := plot.New()
	p.Title.Text = "path independence: ‖x_t(seed k) − x_t(seed 0)‖ / ‖x_t(seed 0)‖"
	p.X.Label.Text = "recurrence step (solid: median over tokens, dashed: largest)"
	p.Y.Label.Text = "relative distance (log scale)"
	p.Y.Scale = plot.LogScale{}
	floor, top := math.Inf(1), 0.0
	for _, curve := range append(append([][]float64{}, median...), largest...) {
		for _, v := range curve {
			if v > 0 {
				floor = math.Min(floor, v)
			}
			top = math.Max(top, v)
		}
	}
	if math.IsInf(floor, 1) {
		floor, top = 1e-12, 1
	}
	p.Y.Min, p.Y.Max = floor/2, 2*top
	p.Y.Tick.Marker = decadeTicks{}
	for k := range median {
		c := palette.Of(k)
		for j, curve := range [][]float64{median[k], largest[k]} {
			pts := make(plotter.XYs, len(curve))
			for t, v := range curve {
				pts[t] = plotter.XY{X: float64(t), Y: math.Max(v, floor)}
			}
			line, err := plotter.NewLine(pts)
			if err != nil {
				return fmt.Errorf("trace: plot: %w", err)
			}
			line.Color, line.Width = c, vg.Points(1.5)
			if j == 1 {
				line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			} else {
				p.Legend.Add(fmt.Sprintf("seed %d vs %d", seeds[k+1], seeds[0]), line)
			}
			p.Add(line)
		}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return saveBoth(prefix, 18*vg.Centimeter, 11*vg.Centimeter, func(dc draw.Canvas) { p.Draw(dc) })
}

// decadeTicks labels every power of ten of a log axis as 1e-6, 1e-5, ...
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		if v := math.Pow(10, e); v >= lo && v <= hi {
			ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprintf("1e%d", int(e))})
		}
	}
	return ticks
}
