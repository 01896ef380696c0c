package data

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// arraySplit is one split read from arrays, before its classes are known.
type arraySplit struct {
	set          *Set
	yName        string // the labels array, for errors
	yIndexShapes []int  // the labels' shape
}

// npzReader reads own data from a .npz file (rel, relative to the profile's Path).
func npzReader(rel string, opt map[string]string) Reader {
	return Reader{
		files: func(*source) ([]string, error) { return []string{rel}, nil },
		load: func(src *source, o Options) (train, test *Set, err error) {
			b, err := src.readFile(rel)
			if err != nil {
				return nil, nil, err
			}
			file := src.display(rel)
			z, err := ReadNPZ(bytes.NewReader(b), int64(len(b)), file)
			if err != nil {
				return nil, nil, err
			}
			pick := func(key, preferred, fallback string) string {
				if v := opt[key]; v != "" {
					return v
				}
				if z.Has(preferred) {
					return preferred
				}
				return fallback
			}
			xName, yName := pick("x", "x_test", "x"), pick("y", "y_test", "y")
			if !z.Has(xName) {
				return nil, nil, formatErr(file, "no images array %q (it holds %s): name it with npz:FILE#x=NAME,y=NAME", xName, strings.Join(z.Names(), ", "))
			}
			if !z.Has(yName) {
				return nil, nil, formatErr(file, "no labels array %q (it holds %s): name it with npz:FILE#x=NAME,y=NAME", yName, strings.Join(z.Names(), ", "))
			}
			read := func(name, xn, yn string) (*arraySplit, error) {
				x, err := z.Array(xn)
				if err != nil {
					return nil, err
				}
				y, err := z.Array(yn)
				if err != nil {
					return nil, err
				}
				return arraysToSplit(name, x, y, fmt.Sprintf("%s[%s]", file, xn), fmt.Sprintf("%s[%s]", file, yn), opt["layout"])
			}
			testS, err := read("test", xName, yName)
			if err != nil {
				return nil, nil, err
			}
			splits := []*arraySplit{testS}
			xt, yt := pick("x_train", "x_train", ""), pick("y_train", "y_train", "")
			switch {
			case xt != "" && yt != "":
				trainS, err := read("train", xt, yt)
				if err != nil {
					return nil, nil, err
				}
				if a, b := trainS.set, testS.set; a.C != b.C || a.H != b.H || a.W != b.W {
					return nil, nil, formatErr(file, "training images %q are %dx%dx%d, test images %q %dx%dx%d: want one shape", xt, a.C, a.H, a.W, xName, b.C, b.H, b.W)
				}
				splits = append(splits, trainS)
			case xt != "" || yt != "":
				return nil, nil, formatErr(file, "training images and labels come in pairs: found only %q%q", xt, yt)
			}
			var names []string
			if n := pick("names", "class_names", ""); n != "" {
				a, err := z.Array(n)
				if err != nil {
					return nil, nil, err
				}
				if names, err = a.Strings(); err != nil || len(a.Shape) != 1 {
					return nil, nil, formatErr(fmt.Sprintf("%s[%s]", file, n), "class names must be a 1-d array of strings, not %s of shape %v", a.Dtype, a.Shape)
				}
			}
			if err := assignClasses(splits, names, opt["classes"]); err != nil {
				return nil, nil, err
			}
			train = emptyLike("train", testS.set)
			if len(splits) == 2 {
				train = splits[1].set
			}
			return train, testS.set, nil
		},
	}
}

// npyReader reads own data from an images .npy and a labels .npy (relative to the
// profile's Path).
func npyReader(xRel, yRel string, opt map[string]string) Reader {
	return Reader{
		files: func(*source) ([]string, error) { return []string{xRel, yRel}, nil },
		load: func(src *source, o Options) (train, test *Set, err error) {
			arrays := make([]*NPY, 2)
			for i, rel := range []string{xRel, yRel} {
				err := src.read(rel, func(r io.Reader) (err error) {
					arrays[i], err = ReadNPY(r, src.display(rel))
					return err
				})
				if err != nil {
					return nil, nil, err
				}
			}
			s, err := arraysToSplit("test", arrays[0], arrays[1], src.display(xRel), src.display(yRel), opt["layout"])
			if err != nil {
				return nil, nil, err
			}
			if err := assignClasses([]*arraySplit{s}, nil, opt["classes"]); err != nil {
				return nil, nil, err
			}
			return emptyLike("train", s.set), s.set, nil
		},
	}
}

// arraysToSplit turns an images array x and a labels array y into a split (labels
// checked to be non-negative integers; their upper bound waits for assignClasses).
func arraysToSplit(name string, x, y *NPY, xName, yName, layout string) (*arraySplit, error) {
	get, ok := x.getter()
	if !ok || !(x.Dtype == "u1" || x.Dtype == "f4" || x.Dtype == "f8") {
		return nil, formatErr(xName, "images of dtype %s unsupported: want uint8 (scaled by 1/255) or float32/float64 in [0,1]", x.Dtype)
	}
	n, c, h, w, nhwc, err := imageLayout(x, xName, layout)
	if err != nil {
		return nil, err
	}
	s := &Set{Name: name, N: n, C: c, H: h, W: w, Images: make([]float32, x.Len())}
	hw := h * w
	for i := range s.Images {
		// i runs over the source in its own order; dst is the NCHW position.
		dst := i
		if nhwc {
			img, rest := i/(hw*c), i%(hw*c)
			dst = img*hw*c + (rest%c)*hw + rest/c
		}
		if x.Dtype == "u1" {
			s.Images[dst] = byteScale[x.Data[i]]
			continue
		}
		v := get(i)
		switch {
		case math.IsNaN(v):
			return nil, formatErr(xName, "pixel %s is NaN", npyIndex(x.Shape, i))
		case v < 0 || v > 1:
			return nil, formatErr(xName, "pixel %s is %g, outside [0,1]: float pixels must be in [0,1] (save uint8 0-255 to have them scaled by 1/255)", npyIndex(x.Shape, i), v)
		}
		s.Images[dst] = float32(v)
	}
	labels, err := npyLabels(y, yName, n)
	if err != nil {
		return nil, err
	}
	s.Labels = labels
	if len(s.Labels) == 0 {
		s.Labels = []int{}
	}
	return &arraySplit{set: s, yName: yName, yIndexShapes: y.Shape}, nil
}

// imageLayout reads the image count and shape from x's shape: (N, H, W), or a 4-d
// array in the layout given or, without one, the one whose channel axis has size 1 or
// 3 (refusing the ambiguous).
func imageLayout(x *NPY, xName, layout string) (n, c, h, w int, nhwc bool, err error) {
	sh := x.Shape
	switch len(sh) {
	case 3:
		if layout != "" {
			return 0, 0, 0, 0, false, formatErr(xName, "layout=%s given, but the images have shape %v (N, H, W): no channel axis", layout, sh)
		}
		n, c, h, w = sh[0], 1, sh[1], sh[2]
	case 4:
		first, last := sh[1] == 1 || sh[1] == 3, sh[3] == 1 || sh[3] == 3
		switch {
		case strings.EqualFold(layout, "nchw"):
			nhwc = false
		case strings.EqualFold(layout, "nhwc"):
			nhwc = true
		case first && last:
			return 0, 0, 0, 0, false, formatErr(xName, "shape %v: axis 1 and axis 3 could both be the channels; say which with #layout=nchw or #layout=nhwc", sh)
		case first:
			nhwc = false
		case last:
			nhwc = true
		default:
			return 0, 0, 0, 0, false, formatErr(xName, "shape %v has no channel axis of size 1 or 3 (want (N, C, H, W) or (N, H, W, C) with C 1 or 3)", sh)
		}
		n, c, h, w = sh[0], sh[1], sh[2], sh[3]
		if nhwc {
			c, h, w = sh[3], sh[1], sh[2]
		}
		if c != 1 && c != 3 {
			return 0, 0, 0, 0, false, formatErr(xName, "shape %v in layout %s has %d channels: want 1 or 3", sh, map[bool]string{false: "NCHW", true: "NHWC"}[nhwc], c)
		}
	default:
		return 0, 0, 0, 0, false, formatErr(xName, "images of shape %v: want (N, H, W), (N, C, H, W) or (N, H, W, C)", sh)
	}
	if n < 1 || h < 1 || w < 1 {
		return 0, 0, 0, 0, false, formatErr(xName, "images of shape %v: no images, or images of no pixels", sh)
	}
	return n, c, h, w, nhwc, nil
}

// npyLabels reads n class indices from y, of shape (n,) or (n, 1).
func npyLabels(y *NPY, yName string, n int) ([]int, error) {
	get, ok := y.getter()
	if !ok || y.Dtype[0] == 'f' || y.Dtype == "b1" {
		return nil, formatErr(yName, "labels of dtype %s unsupported: want integer class indices", y.Dtype)
	}
	sh := y.Shape
	if !(len(sh) == 1 || len(sh) == 2 && sh[1] == 1) {
		hint := ""
		if len(sh) == 2 {
			hint = " (one-hot labels? save np.argmax(y, axis=1))"
		}
		return nil, formatErr(yName, "labels of shape %v: want (N,) or (N, 1)%s", sh, hint)
	}
	if sh[0] != n {
		return nil, formatErr(yName, "%d labels for %d images", sh[0], n)
	}
	out := make([]int, n)
	for i := range out {
		v := get(i)
		if v < 0 || v > math.MaxInt32 {
			return nil, formatErr(yName, "label %s is %s: want a class index 0, 1, ...", npyIndex(sh, i), strconv.FormatFloat(v, 'f', -1, 64))
		}
		out[i] = int(v)
	}
	return out, nil
}

// assignClasses sets the classes of array splits: classes=N (option), else the
// number of class names, else the largest label + 1; every label must be below it.
func assignClasses(splits []*arraySplit, names []string, classesOpt string) error {
	k := 0
	if classesOpt != "" {
		k, _ = strconv.Atoi(classesOpt) // parseOwn checked it
		if names != nil && len(names) != k {
			return fmt.Errorf("classes=%d but %d class names", k, len(names))
		}
	} else if names != nil {
		k = len(names)
	} else {
		for _, s := range splits {
			for _, l := range s.set.Labels {
				k = max(k, l+1)
			}
		}
	}
	if names == nil {
		names = numberNames(k)
	}
	for _, s := range splits {
		for i, l := range s.set.Labels {
			if l >= k {
				return formatErr(s.yName, "label %s is %d, outside 0..%d (%d classes)", npyIndex(s.yIndexShapes, i), l, k-1, k)
			}
		}
		s.set.Classes, s.set.ClassNames = k, names
	}
	return nil
}
