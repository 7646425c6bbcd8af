// Package palette holds the colours of every figure latent draws: the Okabe–Ito palette, whose
// eight colours stay distinguishable with every common colour-vision deficiency.
package palette

import "image/color"

// The Okabe–Ito colours.
var (
	Black         = color.RGBA{0, 0, 0, 255}
	Orange        = color.RGBA{230, 159, 0, 255}
	SkyBlue       = color.RGBA{86, 180, 233, 255}
	BluishGreen   = color.RGBA{0, 158, 115, 255}
	Yellow        = color.RGBA{240, 228, 66, 255}
	Blue          = color.RGBA{0, 114, 178, 255}
	Vermillion    = color.RGBA{213, 94, 0, 255}
	ReddishPurple = color.RGBA{204, 121, 167, 255}
)

// Series is the order in which plots give colours to series: the strongest contrasts first,
// yellow (weak on white) last.
var Series = []color.RGBA{Blue, Vermillion, BluishGreen, ReddishPurple, Orange, SkyBlue, Black, Yellow}

// Of returns the colour of series i, cycling through Series.
func Of(i int) color.RGBA { return Series[i%len(Series)] }
