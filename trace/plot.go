package trace

import (
	"fmt"
	"github.com/latentlab/latent/internal/figure"
	"gonum.org/v1/plot/vg/vgimg"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// grid is a tokens × steps matrix of log10 values for a heat map.
type grid struct {
	z        [][]float64 // [token][step − first]
	first    int         // the step of column 0
	min, max float64
}

func (g *grid) Dims() (c, r int)   { return len(g.z[0]), len(g.z) }
func (g *grid) Z(c, r int) float64 { return g.z[r][c] }
func (g *grid) X(c int) float64    { return float64(g.first + c) }
func (g *grid) Y(r int) float64    { return float64(r) }
func (g *grid) Min() float64       { return g.min }
func (g *grid) Max() float64       { return g.max }

// logGrid takes log10 of values[token][step], flooring zeros (the last column of a distance to
// the final state) at the smallest positive value.
func logGrid(values [][]float64) *grid {
	floor := math.Inf(1)
	for _, row := range values {
		for _, v := range row {
			if v > 0 {
				floor = math.Min(floor, v)
			}
		}
	}
	if math.IsInf(floor, 1) {
		floor = 1
	}
	g := &grid{min: math.Inf(1), max: math.Inf(-1)}
	for _, row := range values {
		out := make([]float64, len(row))
		for t, v := range row {
			out[t] = math.Log10(math.Max(v, floor))
			g.min, g.max = math.Min(g.min, out[t]), math.Max(g.max, out[t])
		}
		g.z = append(g.z, out)
	}
	if g.max == g.min {
		g.max = g.min + 1
	}
	return g
}

// Heatmap draws values[token][step − first] (such as DistFinal from step 0 or StepSize from
// step 1) on a log colour scale, tokens on y, steps on x, and writes prefix.png and prefix.svg.
func Heatmap(values [][]float64, first int, labels []string, title, prefix string) error {
	g := logGrid(values)
	g.first = first
	cm := moreland.ExtendedBlackBody()
	cm.SetMin(g.min)
	cm.SetMax(g.max)
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s (log10, %.1f dark … %.1f bright)", title, g.min, g.max)
	p.X.Label.Text = "recurrence step"
	p.Y.Label.Text = "token"
	p.Add(plotter.NewHeatMap(g, cm.Palette(255)))
	if len(labels) <= 64 {
		var ticks []plot.Tick
		for i, l := range labels {
			ticks = append(ticks, plot.Tick{Value: float64(i), Label: fmt.Sprintf("%d %s", i, l)})
		}
		p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	}
	h := vg.Length(max(8, len(values)/2)) * vg.Centimeter / 2
	return saveBoth(prefix, 18*vg.Centimeter, h+4*vg.Centimeter, func(dc draw.Canvas) { p.Draw(dc) })
}

// Panels draws, for each chosen token, its trajectory in PC1–2, PC3–4 and PC5–6 of pca as the
// paper does: re-centred on its own centre of mass (red ×), symmetric axes at 1.2 × the largest
// coordinate, points coloured by step from dark to bright and joined by a thin line. trueScale
// gives every panel of a row the same axes instead. It writes prefix.png and prefix.svg.
func Panels(s *States, pca *PCA, tokens []int, titles []string, trueScale bool, prefix string) error {
	pairs := len(pca.Components) / 2
	if pairs == 0 {
		return fmt.Errorf("trace: panels need at least 2 components, have %d", len(pca.Components))
	}
	cm := moreland.ExtendedBlackBody()
	cm.SetMin(0)
	cm.SetMax(float64(s.Steps) * 1.15) // stop short of white
	rows := make([][]*plot.Plot, len(tokens))
	for r, i := range tokens {
		coords := make([][]float64, s.Steps+1)
		for t := range coords {
			coords[t] = pca.Project(s.At(t, i))
		}
		centre := meanOf(coords)
		limit := 0.0
		for _, c := range coords {
			for k := range c {
				c[k] -= centre[k]
				limit = math.Max(limit, math.Abs(c[k]))
			}
		}
		for pair := range pairs {
			lim := limit
			if !trueScale {
				lim = pairLimit(coords, pair)
			}
			rows[r] = append(rows[r], panel(coords, pair, lim, cm, fmt.Sprintf("%s PC%d–%d", titles[r], 2*pair+1, 2*pair+2)))
		}
	}
	size := 6 * vg.Centimeter
	return saveBoth(prefix, vg.Length(pairs)*size, vg.Length(len(tokens))*size, func(dc draw.Canvas) {
		tiles := plot.Align(rows, draw.Tiles{Rows: len(tokens), Cols: pairs, PadX: vg.Millimeter, PadY: vg.Millimeter}, dc)
		for r := range rows {
			for c := range rows[r] {
				rows[r][c].Draw(tiles[r][c])
			}
		}
	})
}

func pairLimit(coords [][]float64, pair int) float64 {
	lim := 0.0
	for _, c := range coords {
		lim = math.Max(lim, math.Max(math.Abs(c[2*pair]), math.Abs(c[2*pair+1])))
	}
	return lim
}

func panel(coords [][]float64, pair int, lim float64, cm palette.ColorMap, title string) *plot.Plot {
	xy := make(plotter.XYs, len(coords))
	for t, c := range coords {
		xy[t] = plotter.XY{X: c[2*pair], Y: c[2*pair+1]}
	}
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(8)
	lim = 1.2 * math.Max(lim, math.SmallestNonzeroFloat64)
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -lim, lim, -lim, lim
	line, _ := plotter.NewLine(xy)
	line.Color, line.Width = color.Gray{Y: 160}, vg.Points(0.4)
	dots, _ := plotter.NewScatter(xy)
	dots.GlyphStyleFunc = func(t int) draw.GlyphStyle {
		c, _ := cm.At(float64(t))
		return draw.GlyphStyle{Color: c, Radius: vg.Points(1.5), Shape: draw.CircleGlyph{}}
	}
	centre, _ := plotter.NewScatter(plotter.XYs{{}})
	centre.GlyphStyle = draw.GlyphStyle{Color: color.RGBA{R: 220, A: 255}, Radius: vg.Points(3), Shape: draw.CrossGlyph{}}
	p.Add(line, dots, centre)
	return p
}

// saveBoth renders a figure into prefix.png and prefix.svg.
func saveBoth(prefix string, w, h vg.Length, render func(draw.Canvas)) error {
	if err := figure.Save(prefix, w, h, vgimg.DefaultDPI, render); err != nil {
		return fmt.Errorf("trace: plot: %w", err)
	}
	return nil
}
