package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
)

// RGB is an 8-bit RGB image with its pixels interleaved row by row (R, G, B, R, ...),
// the layout of a binary PPM body.
type RGB struct {
	W, H int
	Pix  []byte // len 3*W*H
}

// Limits on PPM headers: far above any traffic-sign crop, low enough that a corrupt
// header is rejected before it costs memory.
const (
	ppmMaxSide   = 1 << 14
	ppmMaxPixels = 1 << 26
)

// ppmOther names the Netpbm formats that share the P magic, for a clear refusal.
var ppmOther = map[byte]string{
	'1': "P1 (ASCII PBM bitmap)", '2': "P2 (ASCII PGM greymap)", '3': "P3 (ASCII PPM)",
	'4': "P4 (binary PBM bitmap)", '5': "P5 (binary PGM greymap)", '7': "P7 (PAM)",
}

// ReadPPM decodes one binary PPM (P6) image with maxval 255 from r: the format GTSRB
// ships. Header comments ("# ..." to the end of the line) are allowed wherever the
// format allows whitespace. Other Netpbm variants, 16-bit samples and absurd sizes are
// FormatErrors naming file. Bytes after the image are ignored.
func ReadPPM(r io.Reader, file string) (*RGB, error) {
	br, ok := r.(io.ByteScanner)
	if !ok {
		b := bufio.NewReaderSize(r, 512)
		br, r = b, b
	}
	p := ppmHeader{br: br, file: file}
	m0, err1 := br.ReadByte()
	m1, err2 := br.ReadByte()
	if err := errors.Join(err1, err2); err != nil {
		return nil, p.fail(err, "magic")
	}
	if m0 != 'P' || m1 != '6' {
		if name, ok := ppmOther[m1]; ok && m0 == 'P' {
			return nil, formatErr(file, "PPM format %s unsupported: want P6 (binary PPM)", name)
		}
		return nil, formatErr(file, "bad magic %q: not a binary PPM (P6) file", []byte{m0, m1})
	}
	w, err := p.number("width")
	if err != nil {
		return nil, err
	}
	h, err := p.number("height")
	if err != nil {
		return nil, err
	}
	maxval, err := p.number("maxval")
	if err != nil {
		return nil, err
	}
	// Exactly one whitespace byte separates maxval from the pixels.
	c, err := br.ReadByte()
	if err != nil {
		return nil, p.fail(err, "whitespace after maxval")
	}
	if !isPNMSpace(c) {
		return nil, formatErr(file, "bad PPM header: byte %q after maxval, want whitespace", c)
	}
	if w < 1 || h < 1 || w > ppmMaxSide || h > ppmMaxSide || w*h > ppmMaxPixels {
		return nil, formatErr(file, "absurd PPM size %dx%d (want 1 to %d per side, %d pixels)", w, h, ppmMaxSide, ppmMaxPixels)
	}
	if maxval != 255 {
		if maxval < 1 || maxval > 65535 {
			return nil, formatErr(file, "bad PPM maxval %d (want 1 to 65535)", maxval)
		}
		return nil, formatErr(file, "PPM maxval %d unsupported: want 255 (8-bit samples)", maxval)
	}
	pix, err := readFull(r, int64(3*w*h), file, fmt.Sprintf("PPM pixel data (%dx%d RGB)", w, h))
	if err != nil {
		return nil, err
	}
	return &RGB{W: w, H: h, Pix: pix}, nil
}

// ppmHeader tokenises the ASCII part of a PPM header.
type ppmHeader struct {
	br   io.ByteScanner
	file string
}

func (p *ppmHeader) fail(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr(p.file, "truncated PPM header: file ends before %s", what)
	}
	return readErr(p.file, err)
}

// number skips whitespace and comments and reads a decimal number. It requires at least
// one whitespace byte (or comment) before the number, as the format does.
func (p *ppmHeader) number(what string) (int, error) {
	sawSpace := false
	var c byte
	for {
		var err error
		c, err = p.br.ReadByte()
		if err != nil {
			return 0, p.fail(err, what)
		}
		if c == '#' {
			sawSpace = true
			for c != '\n' && c != '\r' {
				if c, err = p.br.ReadByte(); err != nil {
					return 0, p.fail(err, what)
				}
			}
			continue
		}
		if !isPNMSpace(c) {
			break
		}
		sawSpace = true
	}
	if !sawSpace || c < '0' || c > '9' {
		return 0, formatErr(p.file, "bad PPM header: byte %q where %s should start", c, what)
	}
	n := int(c - '0')
	for {
		c, err := p.br.ReadByte()
		if err != nil {
			return 0, p.fail(err, what)
		}
		if c < '0' || c > '9' {
			if !isPNMSpace(c) && c != '#' {
				return 0, formatErr(p.file, "bad PPM header: byte %q in %s", c, what)
			}
			// Put the terminator back: the next number needs to see whitespace before
			// it, and after maxval it is the single separator byte the caller checks.
			return n, p.br.UnreadByte()
		}
		n = 10*n + int(c-'0')
		if n > 1<<24 {
			return 0, formatErr(p.file, "absurd PPM %s: more than %d", what, 1<<24)
		}
	}
}

func isPNMSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// Resize returns m scaled to w x h with bilinear interpolation, using the pixel-centre
// convention of OpenCV's INTER_LINEAR (source x = (x+0.5)*scale - 0.5, clamped at the
// borders), which is how the 32x32 GTSRB copy at hand was made; reading official
// variable-size images this way gives the same pixels as that copy. Results are
// rounded to the nearest integer. A same-size resize returns a copy.
func (m *RGB) Resize(w, h int) *RGB {
	out := &RGB{W: w, H: h, Pix: make([]byte, 3*w*h)}
	xs := bilinearTaps(m.W, w)
	ys := bilinearTaps(m.H, h)
	for y, ty := range ys {
		r0 := m.Pix[3*ty.i0*m.W:]
		r1 := m.Pix[3*ty.i1*m.W:]
		for x, tx := range xs {
			for c := range 3 {
				top := (1-tx.a)*float64(r0[3*tx.i0+c]) + tx.a*float64(r0[3*tx.i1+c])
				bot := (1-tx.a)*float64(r1[3*tx.i0+c]) + tx.a*float64(r1[3*tx.i1+c])
				v := math.Round((1-ty.a)*top + ty.a*bot)
				out.Pix[3*(y*w+x)+c] = byte(min(max(v, 0), 255))
			}
		}
	}
	return out
}

// tap is one output coordinate's two source neighbours and the weight of the second.
type tap struct {
	i0, i1 int
	a      float64
}

func bilinearTaps(src, dst int) []tap {
	taps := make([]tap, dst)
	scale := float64(src) / float64(dst)
	for d := range taps {
		f := (float64(d)+0.5)*scale - 0.5
		i := int(math.Floor(f))
		a := f - float64(i)
		if i < 0 {
			i, a = 0, 0
		}
		if i >= src-1 {
			i, a = src-1, 0
		}
		taps[d] = tap{i0: i, i1: min(i+1, src-1), a: a}
	}
	return taps
}

// planar writes m into dst (len 3*W*H) as three float32 planes R, G, B in [0,1].
func (m *RGB) planar(dst []float32) {
	n := m.W * m.H
	for i := range n {
		dst[i] = byteScale[m.Pix[3*i]]
		dst[n+i] = byteScale[m.Pix[3*i+1]]
		dst[2*n+i] = byteScale[m.Pix[3*i+2]]
	}
}
