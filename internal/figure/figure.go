// Package figure renders latent's figures: each one drawn once as a PNG and once as an SVG of
// the same size on a white background, so every command writes both formats the same way.
package figure

import (
	"bytes"
	"fmt"
	"image/color"

	"github.com/latentlab/latent/internal/atomicfile"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Render paints a w × h figure as a PNG at dpi dots per inch and as an SVG.
func Render(w, h vg.Length, dpi int, paint func(draw.Canvas)) (png, svg []byte, err error) {
	canvases := []vg.CanvasWriterTo{
		vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))},
		vgsvg.New(w, h),
	}
	out := make([][]byte, len(canvases))
	for i, c := range canvases {
		dc := draw.New(c)
		dc.SetColor(color.White)
		dc.Fill(dc.Rectangle.Path())
		paint(dc)
		var buf bytes.Buffer
		if _, err := c.WriteTo(&buf); err != nil {
			return nil, nil, err
		}
		out[i] = buf.Bytes()
	}
	return out[0], out[1], nil
}

// Save renders the figure and writes prefix.png and prefix.svg, each atomically.
func Save(prefix string, w, h vg.Length, dpi int, paint func(draw.Canvas)) error {
	png, svg, err := Render(w, h, dpi, paint)
	if err != nil {
		return fmt.Errorf("figure %s: %w", prefix, err)
	}
	if err := atomicfile.WriteFile(prefix+".png", png); err != nil {
		return err
	}
	return atomicfile.WriteFile(prefix+".svg", svg)
}
