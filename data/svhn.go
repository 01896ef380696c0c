package data

import (
	"io"
	"math"
)

// svhnSide is the size of the SVHN cropped digits.
const svhnSide = 32

// svhnFileNames are the official cropped-digit files (format 2), train then test. The
// "extra" set is not used by the paper.
var svhnFileNames = [2]string{"svhn/train_32x32.mat", "svhn/test_32x32.mat"}

func svhnFiles(src *source) ([]string, error) {
	for _, f := range svhnFileNames {
		if _, err := src.first("svhn", f[len("svhn/"):]); err != nil {
			return nil, err
		}
	}
	return svhnFileNames[:], nil
}

func loadSVHN(src *source, opt Options) (train, test *Set, err error) {
	if _, err := svhnFiles(src); err != nil {
		return nil, nil, err
	}
	p := &progress{f: opt.Progress, total: 2}
	sets := make([]*Set, 2)
	for i, f := range svhnFileNames {
		err := src.read(f, func(r io.Reader) (err error) {
			sets[i], err = ReadSVHN(r, src.display(f))
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		p.add(1)
	}
	sets[0].Name, sets[1].Name = "train", "test"
	return sets[0], sets[1], nil
}

// ReadSVHN reads one official SVHN cropped-digit file (train_32x32.mat or
// test_32x32.mat): a level 5 MAT-file with X, uint8 32x32x3xN (MATLAB's column-major
// order: row, column, channel, image), and y, Nx1 labels 1 to 10 where 10 is the
// digit 0. The result is NCHW in [0,1] with labels 0 to 9; its Name is empty.
func ReadSVHN(r io.Reader, file string) (*Set, error) {
	mf, err := ReadMAT(r, file)
	if err != nil {
		return nil, err
	}
	x, y := mf.Array("X"), mf.Array("y")
	if x == nil {
		return nil, formatErr(file, "no variable X (want uint8 32x32x3xN images)")
	}
	if y == nil {
		return nil, formatErr(file, "no variable y (want Nx1 labels 1 to 10)")
	}
	if x.Class != MATUint8 {
		return nil, formatErr(file, "variable X has class %s, want uint8", x.Class)
	}
	if len(x.Dims) != 4 || x.Dims[0] != svhnSide || x.Dims[1] != svhnSide || x.Dims[2] != 3 {
		return nil, formatErr(file, "variable X has dimensions %v, want 32x32x3xN", x.Dims)
	}
	n := x.Dims[3]
	if !(len(y.Dims) == 2 && (y.Dims[0] == n && y.Dims[1] == 1 || y.Dims[0] == 1 && y.Dims[1] == n)) {
		return nil, formatErr(file, "variable y has dimensions %v, want %dx1 to match X", y.Dims, n)
	}
	pix, err := x.Uint8()
	if err != nil {
		return nil, err
	}
	lab, err := y.Float64()
	if err != nil {
		return nil, err
	}
	const plane = svhnSide * svhnSide
	s := &Set{
		N: n, C: 3, H: svhnSide, W: svhnSide,
		Images:     make([]float32, n*3*plane),
		Labels:     make([]int, n),
		Classes:    10,
		ClassNames: digitNames,
	}
	for k, v := range lab {
		if v != math.Trunc(v) || v < 1 || v > 10 {
			return nil, formatErr(file, "variable y: label %v of image %d out of range (want 1 to 10, 10 for the digit 0)", v, k)
		}
		s.Labels[k] = int(v) % 10
	}
	// X(i, j, c, k) is at i + 32j + 1024c + 3072k; NCHW wants k, c, i, j.
	for k := range n {
		for c := range 3 {
			src := pix[(k*3+c)*plane:]
			dst := s.Images[(k*3+c)*plane:]
			for i := range svhnSide {
				for j := range svhnSide {
					dst[i*svhnSide+j] = byteScale[src[i+svhnSide*j]]
				}
			}
		}
	}
	return s, nil
}
