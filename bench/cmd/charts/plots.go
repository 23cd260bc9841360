package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

func init() {
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
}

// series is one bar (or dot) per group.
type series struct {
	name   string
	values []float64 // one per group; NaN-free, 0 when missing
}

// seriesColor gives the floor, ours and the bufio sides fixed colours and
// every other peer the next of a few more, in order of appearance.
func seriesColor(name string, i int) color.Color {
	switch name {
	case "floor":
		return color.RGBA{0x9a, 0xa3, 0xab, 0xff}
	case "ours":
		return color.RGBA{0x0b, 0x6b, 0xcb, 0xff}
	case "bufio-reused":
		return color.RGBA{0xe0, 0x8a, 0x1e, 0xff}
	case "bufio-peek":
		return color.RGBA{0x6a, 0x3d, 0x9a, 0xff}
	}
	others := []color.Color{
		color.RGBA{0xe0, 0x8a, 0x1e, 0xff}, color.RGBA{0x2a, 0x9d, 0x5c, 0xff},
		color.RGBA{0xc2, 0x3b, 0x3b, 0xff}, color.RGBA{0x6a, 0x3d, 0x9a, 0xff},
	}
	return others[i%len(others)]
}

// barPlot is a grouped bar chart on a linear axis from 0.
func barPlot(title, ylabel string, groups []string, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	w := vg.Points(min(60/float64(len(ss)), 22))
	top := 0.0
	for i, s := range ss {
		b, err := plotter.NewBarChart(plotter.Values(s.values), w)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		b.Color = seriesColor(s.name, i)
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(float64(i)-float64(len(ss)-1)/2)
		p.Add(b)
		p.Legend.Add(s.name, b)
		top = max(top, slices.Max(s.values))
	}
	p.Y.Max = top * 1.3 // room for the legend
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	p.NominalX(groups...)
	return p, nil
}

// dotPlot draws one dot per series and group on a log axis: allocation
// ratios span eight orders of magnitude, which bars cannot show. Values
// of 0 are drawn at floorValue and said so in the axis label.
func dotPlot(title, ylabel string, groups []string, ss []series, floorValue float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = pow10Ticks{}
	step := 0.6 / float64(max(len(ss), 1))
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.PyramidGlyph{}, draw.RingGlyph{}}
	lo, hi := floorValue, floorValue
	for i, s := range ss {
		xy := make(plotter.XYs, len(s.values))
		for g, v := range s.values {
			if v <= 0 {
				v = floorValue
			}
			xy[g] = plotter.XY{X: float64(g) + step*(float64(i)-float64(len(ss)-1)/2), Y: v}
			lo, hi = min(lo, v), max(hi, v)
		}
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: seriesColor(s.name, i), Radius: vg.Points(4.5), Shape: shapes[i%len(shapes)]}
		p.Add(sc)
		p.Legend.Add(s.name, sc)
	}
	p.Y.Min, p.Y.Max = lo/3, hi*30 // room for the legend
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	p.NominalX(groups...)
	return p, nil
}

// pow10Ticks marks every power of ten in range, labelled 1e-6 style
// (plot.LogTicks prints 9.999999999999999e-06 for some of them).
type pow10Ticks struct{}

func (pow10Ticks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for e := int(math.Floor(math.Log10(lo))); e <= int(math.Ceil(math.Log10(hi))); e++ {
		v := math.Pow10(e)
		if v < lo || v > hi {
			continue
		}
		label := fmt.Sprintf("1e%d", e)
		if e >= 0 && e <= 3 {
			label = strconv.FormatFloat(v, 'f', -1, 64)
		}
		out = append(out, plot.Tick{Value: v, Label: label})
	}
	return out
}

// saveRow draws plots side by side into one SVG file.
func saveRow(path string, width, height vg.Length, plots ...*plot.Plot) error {
	c := vgsvg.New(width, height)
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
