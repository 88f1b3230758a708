package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/camrec/camrec/internal/mjpeg"
)

// PatternSource is the built-in test camera ("test:"): a moving colour pattern
// with the frame number and the time written on it, as MJPEG at the
// configured size and rate.
//
// Producing a frame encodes nothing. At start-up it JPEG-encodes a few
// hundred 16x16 tiles (one 4:2:0 MCU each) and keeps their entropy-coded
// bytes. A frame header declares a restart interval of one MCU, so each MCU
// is decoded on its own (DC prediction restarts at every RSTn marker) and a
// frame is the header followed by one tile per MCU, separated by RST0..RST7:
// appends of prepared bytes, about 60 µs for 720p.
type PatternSource struct {
	opts SourceOptions
	pat  *testPattern
	seq  atomic.Uint64 // next frame number; keeps counting across Run calls
}

var _ Source = (*PatternSource)(nil)

// NewPatternSource prepares the test camera's tiles (a few milliseconds).
func NewPatternSource(opts SourceOptions) (*PatternSource, error) {
	opts = opts.withDefaults()
	if opts.Width > 65535 || opts.Height > 65535 {
		return nil, fmt.Errorf("test source: size %dx%d too large for JPEG", opts.Width, opts.Height)
	}
	pat, err := newTestPattern(opts.Width, opts.Height)
	if err != nil {
		return nil, fmt.Errorf("test source: %w", err)
	}
	return &PatternSource{opts: opts, pat: pat}, nil
}

// Run delivers frames at the configured rate until ctx is done, then
// returns nil. Frames are scheduled at start + n*period: a late frame is
// sent at once, and frames whose slot has passed entirely are skipped rather
// than sent in a burst. Run must not be called concurrently with itself.
func (s *PatternSource) Run(ctx context.Context, sink Sink) error {
	sink.Negotiated(Format{Name: "mjpeg", Width: s.opts.Width, Height: s.opts.Height, FPS: s.opts.FPS})
	log := s.opts.Log
	log.Info("test source started", "width", s.opts.Width, "height", s.opts.Height, "fps", s.opts.FPS)
	p := newPacer(s.opts.FPS)
	defer p.stop()
	var scratch []byte
	var sent uint64
	for {
		now, ok := p.wait(ctx)
		if !ok {
			log.Info("test source stopped", "frames", sent, "late_slots_skipped", p.skipped)
			return nil
		}
		seq := s.seq.Add(1) - 1
		scratch = s.pat.appendFrame(scratch[:0], seq, now)
		sink.Frame(&Frame{Data: bytes.Clone(scratch), Seq: seq, Time: now})
		sent++
	}
}

// pacer schedules frames at start + n/fps without drift. A late frame is
// sent at once; slots that have passed entirely are skipped, not burst.
// The test and file sources share it.
type pacer struct {
	fps     float64
	start   time.Time
	slot    int64 // the next slot
	skipped int64 // slots skipped because they were late
	timer   *time.Timer
}

// newPacer returns a pacer whose first slot is now.
func newPacer(fps float64) *pacer {
	return &pacer{fps: fps, start: time.Now(), timer: time.NewTimer(0)}
}

// wait blocks until the next slot and returns the time it woke, or false
// when ctx is done first.
func (p *pacer) wait(ctx context.Context) (time.Time, bool) {
	select {
	case <-ctx.Done():
		return time.Time{}, false
	case <-p.timer.C:
	}
	now := time.Now()
	if due := int64(float64(now.Sub(p.start)) * p.fps / float64(time.Second)); due > p.slot {
		p.skipped += due - p.slot
		p.slot = due
	}
	p.slot++
	next := p.start.Add(time.Duration(float64(p.slot) * float64(time.Second) / p.fps))
	p.timer.Reset(time.Until(next))
	return now, true
}

func (p *pacer) stop() { p.timer.Stop() }

const (
	tilePx       = 16 // one MCU at 4:2:0
	tileQuality  = 85
	huePeriod    = 32 // tiles per colour cycle of the background
	shadeLevels  = 8  // brightness bands from top to bottom
	textMargin   = 1  // tiles of box around the text
	frameDigits  = 6
	timeLayout   = "2006-01-02 15:04:05.000"
	textPrefix   = "camrec test  frame "
	textSpacer   = "  "
	glyphChars   = " 0123456789:-.acemrtsf"
	maxTextBytes = 64
)

// testPattern holds everything that does not change between frames.
type testPattern struct {
	w, h, cols, rows int
	header           []byte // DQT, SOF0, DHT, DRI, SOS: the frame after SOI and COM
	data             []byte // entropy-coded bytes of all tiles, back to back
	tiles            []tileSpan
	bg               [shadeLevels][huePeriod]uint16 // background tile per shade and hue
	shadeOfRow       []uint8
	glyph            [128][2]uint16 // top and bottom tile of each character
	blank            uint16         // the text box without a character
}

type tileSpan struct{ off, end uint32 }

func newTestPattern(w, h int) (*testPattern, error) {
	p := &testPattern{
		w: w, h: h,
		cols: (w + tilePx - 1) / tilePx,
		rows: (h + tilePx - 1) / tilePx,
	}
	p.shadeOfRow = make([]uint8, p.rows)
	for r := range p.rows {
		p.shadeOfRow[r] = uint8(r * shadeLevels / p.rows)
	}
	enc := tileEncoder{p: p}
	for shade := range shadeLevels {
		for hue := range huePeriod {
			p.bg[shade][hue] = enc.add(backgroundTile(shade, hue))
		}
	}
	for i := range len(glyphChars) {
		top, bottom := glyphTiles(glyphChars[i])
		p.glyph[glyphChars[i]] = [2]uint16{enc.add(top), enc.add(bottom)}
	}
	p.blank = p.glyph[' '][0]
	if enc.err != nil {
		return nil, enc.err
	}
	return p, nil
}

// tileEncoder encodes 16x16 tiles with image/jpeg and keeps their
// entropy-coded data. All tiles share one header: Go writes the standard
// Huffman tables and quantisation tables that depend only on the quality,
// and it pads each scan's last byte with 1-bits as a marker requires.
type tileEncoder struct {
	p   *testPattern
	hdr []byte // the first tile's header, SOI through SOS
	buf bytes.Buffer
	err error
}

func (e *tileEncoder) add(img *image.RGBA) uint16 {
	if e.err != nil {
		return 0
	}
	e.buf.Reset()
	if err := jpeg.Encode(&e.buf, img, &jpeg.Options{Quality: tileQuality}); err != nil {
		e.err = fmt.Errorf("encode tile: %w", err)
		return 0
	}
	b := e.buf.Bytes()
	sos := bytes.Index(b, []byte{0xFF, 0xDA})
	if sos < 0 || len(b) < sos+4 || !bytes.HasSuffix(b, []byte{0xFF, 0xD9}) {
		e.err = fmt.Errorf("encoded tile has no scan")
		return 0
	}
	scan := sos + 2 + (int(b[sos+2])<<8 | int(b[sos+3]))
	if e.hdr == nil {
		e.hdr = bytes.Clone(b[:scan])
		e.err = e.p.setHeader(e.hdr)
	} else if !bytes.Equal(e.hdr, b[:scan]) {
		e.err = fmt.Errorf("tiles encoded with different headers")
		return 0
	}
	off := len(e.p.data)
	e.p.data = append(e.p.data, b[scan:len(b)-2]...)
	e.p.tiles = append(e.p.tiles, tileSpan{uint32(off), uint32(len(e.p.data))})
	return uint16(len(e.p.tiles) - 1)
}

// setHeader makes the frame header from a tile's: its DQT, DHT and SOS, an
// SOF0 stating the frame's size, and a DRI of one MCU.
func (p *testPattern) setHeader(tile []byte) error {
	var dqt, sof, dht, sos []byte
	for i := 2; i+4 <= len(tile); {
		if tile[i] != 0xFF {
			return fmt.Errorf("tile header: no marker at %d", i)
		}
		n := 2 + (int(tile[i+2])<<8 | int(tile[i+3]))
		seg := tile[i:min(i+n, len(tile))]
		switch tile[i+1] {
		case 0xDB:
			dqt = append(dqt, seg...)
		case 0xC0:
			sof = bytes.Clone(seg)
		case 0xC4:
			dht = append(dht, seg...)
		case 0xDA:
			sos = seg
		}
		i += n
	}
	if dqt == nil || len(sof) < 9 || dht == nil || sos == nil {
		return fmt.Errorf("tile header lacks DQT, SOF0, DHT or SOS")
	}
	sof[5], sof[6] = byte(p.h>>8), byte(p.h)
	sof[7], sof[8] = byte(p.w>>8), byte(p.w)
	dri := []byte{0xFF, 0xDD, 0x00, 0x04, 0x00, 0x01}
	p.header = bytes.Join([][]byte{dqt, sof, dht, dri, sos}, nil)
	return nil
}

// appendFrame appends frame seq captured at t to dst.
func (p *testPattern) appendFrame(dst []byte, seq uint64, t time.Time) []byte {
	var textBuf [maxTextBytes]byte
	var comBuf [64]byte
	com := mjpeg.AppendCamrecComment(comBuf[:0], seq, t.UnixNano())
	lines, nLines := p.text(textBuf[:0], seq, t)
	boxCols, boxRows := 0, 0
	if nLines > 0 {
		boxCols = min(p.cols, max(len(lines[0]), len(lines[1]))+2*textMargin)
		boxRows = min(p.rows, 2*nLines+2*textMargin)
	}

	dst = append(dst, 0xFF, 0xD8, 0xFF, 0xFE, byte((len(com)+2)>>8), byte(len(com)+2))
	dst = append(dst, com...)
	dst = append(dst, p.header...)
	shift := int(seq % huePeriod)
	last := p.cols*p.rows - 1
	mcu := 0
	for r := range p.rows {
		bg := &p.bg[p.shadeOfRow[r]]
		for c := range p.cols {
			var tile tileSpan
			if r < boxRows && c < boxCols {
				tile = p.tiles[p.textTile(lines, r, c)]
			} else {
				tile = p.tiles[bg[(c+shift)%huePeriod]]
			}
			dst = append(dst, p.data[tile.off:tile.end]...)
			if mcu < last {
				dst = append(dst, 0xFF, 0xD0+byte(mcu&7))
			}
			mcu++
		}
	}
	return append(dst, 0xFF, 0xD9)
}

// textTile returns the tile at row r, column c of the text box.
func (p *testPattern) textTile(lines [2][]byte, r, c int) uint16 {
	r -= textMargin
	c -= textMargin
	if r < 0 || c < 0 || r >= 4 {
		return p.blank
	}
	line := lines[r/2]
	if c >= len(line) || line[c] >= 128 {
		return p.blank
	}
	g := p.glyph[line[c]]
	if g == [2]uint16{} {
		return p.blank
	}
	return g[r%2]
}

// text writes the caption into buf: one line when the picture is wide
// enough, else two, cut to the width.
func (p *testPattern) text(buf []byte, seq uint64, t time.Time) (lines [2][]byte, n int) {
	buf = append(buf, textPrefix...)
	var digits [20]byte
	for range frameDigits - len(strconv.AppendUint(digits[:0], seq, 10)) {
		buf = append(buf, '0')
	}
	buf = strconv.AppendUint(buf, seq, 10)
	first := len(buf)
	buf = append(buf, textSpacer...)
	when := len(buf)
	buf = t.AppendFormat(buf, timeLayout)
	room := p.cols - 2*textMargin
	switch {
	case room <= 0 || p.rows < 2+2*textMargin:
		return lines, 0
	case len(buf) <= room:
		lines[0] = buf
		return lines, 1
	default:
		lines[0] = buf[:min(first, room)]
		lines[1] = buf[when:min(len(buf), when+room)]
		if p.rows < 4+2*textMargin {
			return lines, 1
		}
		return lines, 2
	}
}

// backgroundTile paints one tile of the colour cycle: a hue ramp across
// huePeriod tiles, darker in lower shade bands, with a thin grid line.
func backgroundTile(shade, hue int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, tilePx, tilePx))
	value := 1 - 0.55*float64(shade)/float64(shadeLevels-1)
	for y := range tilePx {
		for x := range tilePx {
			h := (float64(hue*tilePx+x) / float64(huePeriod*tilePx)) * 360
			v := value
			if x == 0 && hue%4 == 0 {
				v *= 0.4 // a vertical line every 4 tiles makes the motion obvious
			}
			img.SetRGBA(x, y, hsv(h, 0.75, v))
		}
	}
	return img
}

// glyphTiles draws ch from the 7x13 basic font at twice its size, white on
// black, in a 16x32 cell, and returns its top and bottom halves.
func glyphTiles(ch byte) (top, bottom *image.RGBA) {
	face := basicfont.Face7x13
	mask := image.NewAlpha(image.Rect(0, 0, face.Width, face.Height))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.P(0, face.Ascent)}
	d.DrawString(string(ch))
	top = image.NewRGBA(image.Rect(0, 0, tilePx, tilePx))
	bottom = image.NewRGBA(image.Rect(0, 0, tilePx, tilePx))
	const offX, offY = 1, 3
	bgc, fg := color.RGBA{12, 12, 12, 255}, color.RGBA{255, 255, 255, 255}
	for y := range 2 * tilePx {
		for x := range tilePx {
			c := bgc
			gx, gy := (x-offX)/2, (y-offY)/2
			if x >= offX && y >= offY && gx < face.Width && gy < face.Height && mask.AlphaAt(gx, gy).A >= 128 {
				c = fg
			}
			if y < tilePx {
				top.SetRGBA(x, y, c)
			} else {
				bottom.SetRGBA(x, y-tilePx, c)
			}
		}
	}
	return top, bottom
}

// hsv converts hue (degrees), saturation and value (0..1) to a colour.
func hsv(h, s, v float64) color.RGBA {
	c := v * s
	hp := math.Mod(h/60, 6)
	x := c * (1 - math.Abs(math.Mod(hp, 2)-1))
	var r, g, b float64
	switch {
	case hp < 1:
		r, g = c, x
	case hp < 2:
		r, g = x, c
	case hp < 3:
		g, b = c, x
	case hp < 4:
		g, b = x, c
	case hp < 5:
		r, b = x, c
	default:
		r, b = c, x
	}
	m := v - c
	to8 := func(f float64) uint8 { return uint8(math.Round((f + m) * 255)) }
	return color.RGBA{to8(r), to8(g), to8(b), 255}
}
