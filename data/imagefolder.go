package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// folderExts are the image files an image folder holds (compared in lower case, as
// torchvision does); other files are skipped.
var folderExts = []string{".png", ".jpg", ".jpeg"}

// folderSplit is one split of an image folder: its class names and its images (slash
// paths relative to the root) with their labels.
type folderSplit struct {
	name, dir string
	classes   []string
	files     []string
	labels    []int
}

// listFolder lists the splits of an image folder at the source's root: DIR/train/ and
// DIR/test/ when it holds them (and no other folder), else DIR itself as the test
// split. Each split holds one subfolder per class, in sorted order (label k is the
// k-th), with images anywhere below it, in the order torchvision's ImageFolder lists
// them (by folder path, then file name). Hidden files and folders (a leading dot,
// such as .ipynb_checkpoints) are skipped.
func listFolder(src *source) ([]*folderSplit, error) {
	top, err := subdirs(src, ".")
	if err != nil {
		return nil, err
	}
	var splits []*folderSplit
	if slices.Contains(top, "train") || slices.Contains(top, "test") {
		for _, d := range top {
			if d != "train" && d != "test" {
				return nil, formatErr(src.display("."), "holds train/ or test/ beside other folders (%s): want either class folders, or train/ and test/ each holding class folders (to read one folder as the test split, name it: folder:%s)",
					strings.Join(top, ", "), src.display(d))
			}
			splits = append(splits, &folderSplit{name: d, dir: d})
		}
	} else {
		splits = []*folderSplit{{name: "test", dir: "."}}
	}
	for _, sp := range splits {
		if err := listClasses(src, sp); err != nil {
			return nil, err
		}
	}
	if len(splits) == 2 && !slices.Equal(splits[0].classes, splits[1].classes) {
		return nil, formatErr(src.display("."), "%s/ has the classes %s, %s/ %s: want the same class folders in both",
			splits[0].name, strings.Join(splits[0].classes, ", "), splits[1].name, strings.Join(splits[1].classes, ", "))
	}
	return splits, nil
}

// subdirs lists the visible folders in dir (following symbolic links), sorted.
func subdirs(src *source, dir string) ([]string, error) {
	names, err := src.readDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, ".") && src.isDir(path.Join(dir, n)) {
			out = append(out, n)
		}
	}
	return out, nil
}

// listClasses fills a split's classes and images.
func listClasses(src *source, sp *folderSplit) error {
	classes, err := subdirs(src, sp.dir)
	if err != nil {
		return err
	}
	if len(classes) == 0 {
		return formatErr(src.display(sp.dir), "no class folders: want one subfolder of PNG or JPEG images per class (like torchvision's ImageFolder)")
	}
	sp.classes = classes
	for k, c := range classes {
		type entry struct{ dir, name string }
		var found []entry
		var other []string
		root := path.Join(sp.dir, c)
		err := fs.WalkDir(src.fsys, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			if slices.Contains(folderExts, strings.ToLower(path.Ext(p))) {
				found = append(found, entry{path.Dir(p), d.Name()})
			} else {
				other = append(other, d.Name())
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", src.display(root), err)
		}
		if len(found) == 0 {
			msg := "empty class folder: no PNG or JPEG images (torchvision's ImageFolder refuses it too; remove the folder or add images)"
			if len(other) > 0 {
				msg += fmt.Sprintf("; skipped %d other files such as %s", len(other), other[0])
			}
			return formatErr(src.display(root), "%s", msg)
		}
		// sorted(os.walk(...)) then sorted(file names): by folder path, then name.
		slices.SortFunc(found, func(a, b entry) int {
			if c := strings.Compare(a.dir, b.dir); c != 0 {
				return c
			}
			return strings.Compare(a.name, b.name)
		})
		for _, e := range found {
			sp.files = append(sp.files, path.Join(e.dir, e.name))
			sp.labels = append(sp.labels, k)
		}
	}
	return nil
}

func folderFiles(src *source) ([]string, error) {
	splits, err := listFolder(src)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sp := range splits {
		out = append(out, sp.files...)
	}
	return out, nil
}

// folderLoader reads an image folder with channels channels (0: 1 when every image
// is greyscale, else 3). Images are not resized: they must all have one size.
func folderLoader(channels int) func(src *source, opt Options) (train, test *Set, err error) {
	return func(src *source, opt Options) (train, test *Set, err error) {
		splits, err := listFolder(src)
		if err != nil {
			return nil, nil, err
		}
		var all []string
		for _, sp := range splits {
			all = append(all, sp.files...)
		}
		// Sizes and colour models from the headers first, so the buffers are
		// allocated once and a stray image fails before any decoding.
		var w, h int
		grey := true
		for i, f := range all {
			cfg, err := imageConfig(src, f)
			if err != nil {
				return nil, nil, err
			}
			if i == 0 {
				w, h = cfg.Width, cfg.Height
			} else if cfg.Width != w || cfg.Height != h {
				return nil, nil, formatErr(src.display(f), "is %dx%d pixels, but %s is %dx%d: every image must have the same size (eabs does not resize)",
					cfg.Width, cfg.Height, all[0], w, h)
			}
			grey = grey && (cfg.ColorModel == color.GrayModel || cfg.ColorModel == color.Gray16Model)
		}
		if w < 1 || h < 1 {
			return nil, nil, formatErr(src.display(all[0]), "is an image of %dx%d pixels", w, h)
		}
		c := channels
		if c == 0 {
			c = 3
			if grey {
				c = 1
			}
		}
		p := &progress{f: opt.Progress, total: len(all)}
		sets := map[string]*Set{}
		for _, sp := range splits {
			s := &Set{Name: sp.name, N: len(sp.files), C: c, H: h, W: w, Images: make([]float32, len(sp.files)*c*h*w),
				Labels: sp.labels, Classes: len(sp.classes), ClassNames: sp.classes, Files: sp.files}
			for i, f := range sp.files {
				b, err := src.readFile(f)
				if err != nil {
					return nil, nil, err
				}
				img, _, err := image.Decode(bytes.NewReader(b))
				if err != nil {
					return nil, nil, imageErr(src.display(f), err)
				}
				if r := img.Bounds(); r.Dx() != w || r.Dy() != h {
					return nil, nil, formatErr(src.display(f), "decodes to %dx%d pixels, its header says %dx%d", r.Dx(), r.Dy(), w, h)
				}
				planar(img, c, s.Image(i))
				p.add(1)
			}
			sets[sp.name] = s
		}
		train, test = sets["train"], sets["test"]
		if test == nil {
			test = emptyLike("test", train)
		}
		if train == nil {
			train = emptyLike("train", test)
		}
		return train, test, nil
	}
}

// imageConfig reads an image file's size and colour model from its header.
func imageConfig(src *source, rel string) (image.Config, error) {
	f, err := src.open(rel)
	if err != nil {
		return image.Config{}, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return cfg, imageErr(src.display(rel), err)
	}
	return cfg, nil
}

// imageErr names a file that does not decode.
func imageErr(file string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return formatErr(file, "truncated image: %v", err)
	}
	if errors.Is(err, image.ErrFormat) {
		return formatErr(file, "not a PNG or JPEG image")
	}
	return formatErr(file, "corrupt or truncated image: %v", err)
}

// planar writes img into dst as c planes of [0,1] values: 8-bit samples as v/255,
// 16-bit ones as v/65535, alpha ignored (as PIL's convert("RGB") drops it), grey
// from colour by the ITU-R 601 luma (PIL's convert("L")), colour from grey by
// repeating it.
func planar(img image.Image, c int, dst []float32) {
	r := img.Bounds()
	w, hw := r.Dx(), r.Dx()*r.Dy()
	if g, ok := img.(*image.Gray); ok {
		for y := range r.Dy() {
			for x := range w {
				v := byteScale[g.Pix[y*g.Stride+x]]
				for ch := range c {
					dst[ch*hw+y*w+x] = v
				}
			}
		}
		return
	}
	for y := range r.Dy() {
		for x := range w {
			col := straight(img.At(r.Min.X+x, r.Min.Y+y))
			p := y*w + x
			if col.R == col.G && col.G == col.B {
				for ch := range c {
					dst[ch*hw+p] = float32(col.R) / 65535
				}
				continue
			}
			if c == 1 {
				dst[p] = float32((0.299*float64(col.R) + 0.587*float64(col.G) + 0.114*float64(col.B)) / 65535)
				continue
			}
			dst[p], dst[hw+p], dst[2*hw+p] = float32(col.R)/65535, float32(col.G)/65535, float32(col.B)/65535
		}
	}
}

// straight returns a colour's red, green and blue without alpha premultiplication, on
// the 16-bit scale: exact for the non-premultiplied colours PNG decodes to, divided
// back out of premultiplied ones.
func straight(c color.Color) color.NRGBA64 {
	switch c := c.(type) {
	case color.NRGBA:
		return color.NRGBA64{R: uint16(c.R) * 257, G: uint16(c.G) * 257, B: uint16(c.B) * 257, A: uint16(c.A) * 257}
	case color.NRGBA64:
		return c
	}
	return color.NRGBA64Model.Convert(c).(color.NRGBA64)
}
