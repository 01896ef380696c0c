package data

import (
	"bytes"
	"testing"
	"testing/iotest"
)

func TestReadPPM(t *testing.T) {
	pix := []byte{255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90}
	for _, tc := range []struct {
		name   string
		header string
	}{
		{"plain", "P6\n3 2\n255\n"},
		{"spaces", "P6 3 2 255 "},
		{"comments", "P6\n# made by GIMP\n3 # width\n#height next\n2\n255\n"},
		{"crlf comment", "P6\r\n#c\r\n3\t2\r\n255\n"},
		{"leading zeros", "P6\n003 02\n0255\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]byte(tc.header), pix...)
			// A plain io.Reader (no ByteScanner) exercises the buffered path.
			for _, r := range []interface{ Read([]byte) (int, error) }{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
				m, err := ReadPPM(r, "x.ppm")
				if err != nil {
					t.Fatalf("ReadPPM: %v", err)
				}
				if m.W != 3 || m.H != 2 || !bytes.Equal(m.Pix, pix) {
					t.Errorf("ReadPPM = %dx%d %v, want 3x2 %v", m.W, m.H, m.Pix, pix)
				}
			}
		})
	}
}

func TestReadPPMBad(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", []string{"truncated PPM header", "magic"}},
		{"not netpbm", "\x89PNG\r\n", []string{"bad magic", "not a binary PPM"}},
		{"ascii ppm", "P3\n1 1\n255\n0 0 0\n", []string{"P3 (ASCII PPM)", "unsupported"}},
		{"pgm", "P5\n1 1\n255\n\x00", []string{"P5", "greymap"}},
		{"16 bit", "P6\n1 1\n65535\n\x00\x00\x00\x00\x00\x00", []string{"maxval 65535 unsupported"}},
		{"maxval 15", "P6\n1 1\n15\n\x00\x00\x00", []string{"maxval 15 unsupported"}},
		{"maxval 0", "P6\n1 1\n0\n\x00\x00\x00", []string{"bad PPM maxval 0"}},
		{"no space after magic", "P632 32\n255\n", []string{"bad PPM header", "width"}},
		{"letters", "P6\n3x 2\n255\n", []string{"bad PPM header", "in width"}},
		{"missing height", "P6\n3\n", []string{"truncated PPM header", "height"}},
		{"no separator", "P6\n1 1\n255", []string{"truncated", "before maxval"}},
		{"comment after maxval", "P6\n1 1\n255#x\n\x00\x00\x00", []string{"after maxval"}},
		{"zero width", "P6\n0 2\n255\n", []string{"absurd PPM size 0x2"}},
		{"huge", "P6\n100000 100000\n255\n", []string{"absurd PPM"}},
		{"huge number", "P6\n99999999999999999999 1\n255\n", []string{"absurd PPM width"}},
		{"short body", "P6\n2 2\n255\n\x01\x02\x03", []string{"truncated", "should be 12 bytes", "after 3"}},
		{"comment to eof", "P6\n# no end", []string{"truncated PPM header"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadPPM(bytes.NewReader([]byte(tc.in)), "Images/00001/bad.ppm")
			if err == nil {
				t.Fatalf("ReadPPM = %dx%d, want error", m.W, m.H)
			}
			wantFormatError(t, err, "Images/00001/bad.ppm", tc.want...)
		})
	}
}

// The expected values are computed by hand from OpenCV's INTER_LINEAR rule,
// src = (dst + 0.5) * src/dst - 0.5 clamped to the border, then rounded.
func TestResize(t *testing.T) {
	grey := func(w, h int, v ...byte) *RGB {
		m := &RGB{W: w, H: h, Pix: make([]byte, 3*w*h)}
		for i, x := range v {
			m.Pix[3*i], m.Pix[3*i+1], m.Pix[3*i+2] = x, x, x
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		in     *RGB
		w, h   int
		want   []byte // one channel; all three are equal
		tol    int
		detail string
	}{
		{"upscale 2x1 to 4x1", grey(2, 1, 0, 100), 4, 1, []byte{0, 25, 75, 100}, 0,
			"src x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)"},
		{"downscale 4x1 to 2x1", grey(4, 1, 0, 10, 20, 40), 2, 1, []byte{5, 30}, 0,
			"src x = 0.5, 2.5: the mean of each pair"},
		{"downscale 2x2 to 1x1", grey(2, 2, 0, 10, 20, 31), 1, 1, []byte{15}, 0,
			"src (0.5, 0.5): (0+10+20+31)/4 = 15.25"},
		{"identity", grey(2, 2, 1, 2, 3, 4), 2, 2, []byte{1, 2, 3, 4}, 0, "same size"},
		{"upscale 1x1", grey(1, 1, 77), 3, 2, []byte{77, 77, 77, 77, 77, 77}, 0, "constant stays constant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.Resize(tc.w, tc.h)
			if got.W != tc.w || got.H != tc.h || len(got.Pix) != 3*tc.w*tc.h {
				t.Fatalf("Resize = %dx%d (%d bytes), want %dx%d", got.W, got.H, len(got.Pix), tc.w, tc.h)
			}
			for i, w := range tc.want {
				for c := range 3 {
					if d := int(got.Pix[3*i+c]) - int(w); d > tc.tol || -d > tc.tol {
						t.Errorf("pixel %d channel %d = %d, want %d ± %d (%s)", i, c, got.Pix[3*i+c], w, tc.tol, tc.detail)
					}
				}
			}
		})
	}
}

// A non-32x32 RGB image keeps its colours through the resize: channel order survives
// and a horizontal ramp stays a ramp.
func TestResizeRGB(t *testing.T) {
	m := &RGB{W: 64, H: 48, Pix: make([]byte, 3*64*48)}
	for y := range 48 {
		for x := range 64 {
			copy(m.Pix[3*(y*64+x):], []byte{byte(4 * x), 200, byte(5 * y)})
		}
	}
	got := m.Resize(32, 32)
	for y := range 32 {
		for x := range 32 {
			p := got.Pix[3*(y*32+x):]
			// Columns 2x and 2x+1 average to 8x+2; rows are sampled at (y+0.5)*1.5-0.5.
			sy := min(max((float64(y)+0.5)*1.5-0.5, 0), 47)
			wantR, wantB := 8*x+2, 5*sy
			if int(p[0]) != wantR || p[1] != 200 || absf(float64(p[2])-wantB) > 0.5 {
				t.Fatalf("pixel (%d,%d) = %v, want (%d, 200, %.1f±0.5)", x, y, p[:3], wantR, wantB)
			}
		}
	}
}

func absf(x float64) float64 { return max(x, -x) }
