package motion

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
)

// Point is a position in the picture in normalised coordinates: X from 0
// (left edge) to 1 (right edge), Y from 0 (top edge) to 1 (bottom edge),
// whatever the camera's resolution. In YAML and JSON it is a pair [x, y].
type Point struct {
	X, Y float64
}

// MarshalJSON writes the point as [x, y].
func (p Point) MarshalJSON() ([]byte, error) { return json.Marshal([2]float64{p.X, p.Y}) }

// UnmarshalJSON reads [x, y].
func (p *Point) UnmarshalJSON(b []byte) error {
	var xy []float64
	if err := json.Unmarshal(b, &xy); err != nil || len(xy) != 2 {
		return fmt.Errorf("point %s: want [x, y]", b)
	}
	p.X, p.Y = xy[0], xy[1]
	return nil
}

// MarshalYAML writes the point as [x, y] (the yaml packages' Marshaler).
func (p Point) MarshalYAML() (any, error) { return [2]float64{p.X, p.Y}, nil }

// UnmarshalYAML reads [x, y]. It has the signature that gopkg.in/yaml.v2
// and v3 both accept, so this package needs no YAML import.
func (p *Point) UnmarshalYAML(unmarshal func(any) error) error {
	var xy []float64
	if err := unmarshal(&xy); err != nil || len(xy) != 2 {
		return errors.New("point: want [x, y], e.g. [0.25, 0.5]")
	}
	p.X, p.Y = xy[0], xy[1]
	return nil
}

// Polygon is a closed polygon: its last point joins its first. It may be
// concave; a self-intersecting one is filled by the even-odd rule.
type Polygon []Point

// Zone is a named part of the picture. A frame with motion reports the
// zones whose changed area reaches the zone's own threshold.
type Zone struct {
	// Name identifies the zone in events, MQTT and the API: 1-32
	// characters a-z, 0-9, _ or -, starting with a letter or digit.
	Name string `yaml:"name" json:"name"`
	// Polygon is the zone's outline.
	Polygon Polygon `yaml:"polygon" json:"polygon"`
	// Threshold is the changed area, in percent of the zone's unmasked
	// pixels, from which the zone counts as moved. 0 means the detector's
	// threshold (Config.Threshold).
	Threshold float64 `yaml:"threshold,omitempty" json:"threshold,omitempty"`
}

// MaxZones is how many zones a camera may have (a frame's zones are the bits
// of a ZoneSet).
const MaxZones = 64

// maxPoints bounds a polygon's corners: far more than anyone draws, small
// enough that rasterising stays trivial.
const maxPoints = 1000

var zoneNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// validate checks a polygon's shape (without a resolution).
func (p Polygon) validate() error {
	if len(p) < 3 {
		return fmt.Errorf("%d points: a polygon needs at least 3", len(p))
	}
	if len(p) > maxPoints {
		return fmt.Errorf("%d points: at most %d", len(p), maxPoints)
	}
	for i, pt := range p {
		if !(pt.X >= 0 && pt.X <= 1 && pt.Y >= 0 && pt.Y <= 1) { // also refuses NaN
			return fmt.Errorf("point %d [%g, %g]: coordinates must be between 0 and 1 (x from the left edge, y from the top edge)", i+1, pt.X, pt.Y)
		}
	}
	if math.Abs(p.area()) < 1e-6 {
		return errors.New("the polygon has no area (its points lie on a line)")
	}
	return nil
}

// area is the signed area (shoelace), in units of the whole picture.
func (p Polygon) area() float64 {
	var a float64
	for i := range p {
		j := (i + 1) % len(p)
		a += p[i].X*p[j].Y - p[j].X*p[i].Y
	}
	return a / 2
}

// rasterize calls set(i) for every pixel of a w x h grid whose centre lies
// inside p (even-odd rule; a centre exactly on a left or top edge is in, on
// a right or bottom edge out, so two polygons sharing an edge do not both
// get the pixels along it). xs is scratch space (returned for reuse).
func (p Polygon) rasterize(w, h int, xs []float64, set func(i int)) []float64 {
	for y := range h {
		yc := (float64(y) + 0.5) / float64(h)
		xs = xs[:0]
		for i := range p {
			a, b := p[i], p[(i+1)%len(p)]
			if (a.Y <= yc) == (b.Y <= yc) {
				continue // the edge does not cross this row's centre line
			}
			xs = append(xs, a.X+(yc-a.Y)*(b.X-a.X)/(b.Y-a.Y))
		}
		slices.Sort(xs)
		for k := 0; k+1 < len(xs); k += 2 {
			// pixel x's centre (x+0.5)/w in [xs[k], xs[k+1])
			x0 := int(math.Ceil(xs[k]*float64(w) - 0.5))
			x1 := int(math.Ceil(xs[k+1]*float64(w) - 0.5)) // exclusive
			x0, x1 = max(x0, 0), min(x1, w)
			for x := x0; x < x1; x++ {
				set(y*w + x)
			}
		}
	}
	return xs
}

// regions is the masks and zones rasterised on one grid.
type regions struct {
	active    []bool   // not masked
	nActive   int      // pixels not masked
	zoneBits  []uint64 // per pixel: the zones it lies in (masked pixels: 0)
	zoneArea  []int    // per zone: its unmasked pixels
	zoneNames []string
	zoneThr   []float64 // per zone: threshold in percent of the zone
}

// rasterizeRegions builds the regions of w x h pixels. threshold is the
// detector's (a zone's default). Errors name the setting (masks, zones[i]).
func rasterizeRegions(w, h int, masks []Polygon, zones []Zone, threshold float64) (*regions, error) {
	n := w * h
	r := &regions{active: make([]bool, n), zoneBits: make([]uint64, n)}
	for i := range r.active {
		r.active[i] = true
	}
	var xs []float64
	for _, m := range masks {
		xs = m.rasterize(w, h, xs, func(i int) { r.active[i] = false })
	}
	for _, a := range r.active {
		if a {
			r.nActive++
		}
	}
	if r.nActive == 0 {
		return nil, fmt.Errorf("masks: they cover the whole picture (%dx%d analysed pixels), nothing would be watched", w, h)
	}
	for z, zone := range zones {
		bit := uint64(1) << z
		xs = zone.Polygon.rasterize(w, h, xs, func(i int) {
			if r.active[i] {
				r.zoneBits[i] |= bit
			}
		})
		area := 0
		for _, b := range r.zoneBits {
			if b&bit != 0 {
				area++
			}
		}
		if area == 0 {
			return nil, fmt.Errorf("zones[%d] (%s): covers no analysed pixel outside the masks at %dx%d; draw it larger or unmask it", z, zone.Name, w, h)
		}
		thr := zone.Threshold
		if thr == 0 {
			thr = threshold
		}
		r.zoneArea = append(r.zoneArea, area)
		r.zoneNames = append(r.zoneNames, zone.Name)
		r.zoneThr = append(r.zoneThr, thr)
	}
	return r, nil
}
