package data

import (
	"fmt"
	"io"
	"path"
	"slices"
)

// EmbeddedRoot is the root that selects the sample compiled into the binary instead
// of a directory. It holds mnist/ only (200 training and 100 test images); a real
// directory of that name must be passed as "./embedded".
const EmbeddedRoot = "embedded"

// Options tune a load. The zero value is fine.
type Options struct {
	// Progress, if set, is called as files are read with how many of total are done.
	// Calls are serialised, never concurrent; done reaches total at the end.
	Progress func(done, total int)
}

// Names returns the names Load accepts, sorted.
func Names() []string {
	profiles.Lock()
	defer profiles.Unlock()
	n := make([]string, 0, len(profiles.m))
	for k := range profiles.m {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// Dir returns the folder, relative to the root, that dataset name is read from (with
// forward slashes: "mnist", "gtsrb/GTSRB", ...).
func Dir(name string) (string, error) {
	p, err := ProfileOf(name)
	if err != nil {
		return "", err
	}
	return p.Dir, nil
}

// Embedded reports whether dataset name is always read from the embedded sample,
// whatever root is passed.
func Embedded(name string) bool {
	p, err := ProfileOf(name)
	return err == nil && p.Embedded
}

// Load reads dataset name from its folder inside root (see [Dir]); root may be
// [EmbeddedRoot]. The names are those of [Names]:
//
//   - mnist, fashion-mnist: the official 60,000/10,000 IDX files, 1x28x28, 10 classes.
//   - gtsrb: the official 39,209/12,630 split, 43 classes, every image resized to 3x32x32.
//   - gtsrb-10: the paper's traffic-sign subset of GTSRB: images whose original width
//     and height (from the CSV) are both at least 32, the 10 classes with the most such
//     training images (ties to the lower id), relabelled 0-9 in order of original id;
//     the test set gets the same filters. Set.SourceClasses maps back to GTSRB ids.
//   - svhn: the official cropped digits, train_32x32.mat and test_32x32.mat, 3x32x32;
//     label 10 (the digit 0) becomes 0.
//   - mnist-sample: 200 training and 100 test MNIST images (20 and 10 per class) embedded in the binary;
//     root is ignored.
//   - own data, KIND:PATH (folder:DIR, npz:FILE, npy:FILE#y=FILE, cifar10:DIR; see
//     OwnFolder): the files PATH names; root is ignored.
func Load(name, root string) (*Dataset, error) { return LoadWith(name, root, Options{}) }

// LoadWith is Load with options.
func LoadWith(name, root string, opt Options) (*Dataset, error) {
	d, err := ProfileOf(name)
	if err != nil {
		return nil, err
	}
	src, err := d.source(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if src.root == EmbeddedRoot && !src.isDir(d.Dir) {
		return nil, notFound("%s: not in the embedded sample, which holds only mnist", name)
	}
	train, test, err := d.Reader.load(src, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	train.check()
	test.check()
	files, fp := src.fingerprint()
	return &Dataset{Name: name, Train: train, Test: test, Files: files, Fingerprint: fp}, nil
}

// Fingerprint returns the SHA-256 that [Load] records as Dataset.Fingerprint, by
// hashing the files without decoding them: the SHA-256 of the lines
// "<sha256 of file>  <path relative to root>\n" sorted by path, i.e. of what
// `sha256sum` prints for those files. Run manifests store it so a result can be tied
// to the exact bytes it was computed from.
func Fingerprint(name, root string) (string, error) {
	d, err := ProfileOf(name)
	if err != nil {
		return "", err
	}
	src, err := d.source(root)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	files, err := d.Reader.files(src)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	for _, f := range files {
		if err := src.hash(f); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
	}
	_, fp := src.fingerprint()
	return fp, nil
}

// source opens where the dataset's files are: the embedded sample, own data's folder
// (whatever root is), or its folder inside root.
func (p Profile) source(root string) (*source, error) {
	switch {
	case p.Embedded:
		return newSource(EmbeddedRoot)
	case p.Path != "":
		return newDirSource(p.Path)
	}
	return newSource(root)
}

// progress serialises Options.Progress calls.
type progress struct {
	f           func(done, total int)
	done, total int
}

func (p *progress) add(n int) {
	p.done += n
	if p.f != nil {
		p.f(p.done, p.total)
	}
}

var digitNames = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// fashionNames are the Fashion-MNIST labels as zalandoresearch/fashion-mnist lists them.
var fashionNames = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// idxBases are the four IDX files of MNIST-like datasets, train then test.
var idxBases = [4]string{
	"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
}

// idxCandidates are the names an IDX file is found under: the official gzipped name,
// the gunzipped one, and the "train-images.idx3-ubyte" spelling of some mirrors.
func idxCandidates(base string) []string {
	dotted := base[:len(base)-len("-idx3-ubyte")] + "." + base[len(base)-len("idx3-ubyte"):]
	return []string{base + ".gz", base, dotted, dotted + ".gz"}
}

func idxFiles(dir string) func(src *source) ([]string, error) {
	return func(src *source) ([]string, error) {
		var out []string
		for _, b := range idxBases {
			f, err := src.first(dir, idxCandidates(b)...)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		return out, nil
	}
}

func idxLoader(dir string, names []string) func(src *source, opt Options) (train, test *Set, err error) {
	return func(src *source, opt Options) (train, test *Set, err error) {
		files, err := idxFiles(dir)(src)
		if err != nil {
			return nil, nil, err
		}
		p := &progress{f: opt.Progress, total: len(files)}
		train, err = readIDXSet(src, files[0], files[1], "train", names, p)
		if err != nil {
			return nil, nil, err
		}
		test, err = readIDXSet(src, files[2], files[3], "test", names, p)
		if err != nil {
			return nil, nil, err
		}
		return train, test, nil
	}
}

// readIDXSet reads one split from its image and label files.
func readIDXSet(src *source, imgFile, lblFile, split string, names []string, p *progress) (*Set, error) {
	var img, lbl *IDX
	err := src.read(imgFile, func(r io.Reader) (err error) {
		img, err = readIDXImages(r, src.display(imgFile))
		return err
	})
	if err != nil {
		return nil, err
	}
	p.add(1)
	err = src.read(lblFile, func(r io.Reader) (err error) {
		lbl, err = readIDXLabels(r, src.display(lblFile), len(names))
		return err
	})
	if err != nil {
		return nil, err
	}
	p.add(1)
	if lbl.Dims[0] != img.Dims[0] {
		return nil, formatErr(src.display(lblFile), "has %d labels but %s has %d images",
			lbl.Dims[0], path.Base(imgFile), img.Dims[0])
	}
	n, h, w := img.Dims[0], img.Dims[1], img.Dims[2]
	s := &Set{
		Name: split, N: n, C: 1, H: h, W: w,
		Images:     bytesToFloat(img.Data),
		Labels:     make([]int, n),
		Classes:    len(names),
		ClassNames: names,
	}
	for i, l := range lbl.Data {
		s.Labels[i] = int(l)
	}
	return s, nil
}

// byteScale[v] is v/255 as float32, the pixel mapping every dataset uses.
var byteScale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

func bytesToFloat(b []byte) []float32 {
	out := make([]float32, len(b))
	for i, v := range b {
		out[i] = byteScale[v]
	}
	return out
}
