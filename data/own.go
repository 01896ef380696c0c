package data

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Own data formats, the KIND of an own data name KIND:PATH (see the package
// documentation, "Own data").
const (
	OwnFolder  = "folder"
	OwnNPZ     = "npz"
	OwnNPY     = "npy"
	OwnCIFAR10 = "cifar10"
)

// ownOptions are the options each kind takes.
var ownOptions = map[string][]string{
	OwnFolder:  {"channels"},
	OwnNPZ:     {"x", "y", "x_train", "y_train", "names", "layout", "classes"},
	OwnNPY:     {"y", "layout", "classes"},
	OwnCIFAR10: nil,
}

// OwnForms describes the own data names, for help texts and errors.
const OwnForms = "folder:DIR, npz:FILE, npy:FILE#y=FILE, cifar10:DIR"

// ownSpec is a parsed own data name.
type ownSpec struct {
	kind, path string
	opt        map[string]string
}

// parseOwn parses KIND:PATH[#OPTIONS]; ok is false for a name of no own kind (a
// built-in dataset, or an unknown name).
func parseOwn(name string) (sp ownSpec, ok bool, err error) {
	kind, rest, found := strings.Cut(name, ":")
	allowed, known := ownOptions[kind]
	if !found || !known {
		return sp, false, nil
	}
	p, opts, _ := strings.Cut(rest, "#")
	sp = ownSpec{kind: kind, path: p, opt: map[string]string{}}
	if p == "" {
		return sp, true, fmt.Errorf("dataset %q: no path after %s: (want %s)", name, kind, OwnForms)
	}
	if opts != "" {
		for _, kv := range strings.Split(opts, ",") {
			k, v, eq := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			switch {
			case !eq || v == "":
				return sp, true, fmt.Errorf("dataset %q: option %q is not KEY=VALUE", name, kv)
			case !slices.Contains(allowed, k):
				return sp, true, fmt.Errorf("dataset %q: %s takes no option %q (its options: %s)", name, kind, k, orNone(allowed))
			case sp.opt[k] != "":
				return sp, true, fmt.Errorf("dataset %q: option %s given twice", name, k)
			}
			sp.opt[k] = v
		}
	}
	if kind == OwnNPY && sp.opt["y"] == "" {
		return sp, true, fmt.Errorf("dataset %q: npy needs the labels file: npy:IMAGES.npy#y=LABELS.npy", name)
	}
	if v := sp.opt["channels"]; v != "" && v != "1" && v != "3" {
		return sp, true, fmt.Errorf("dataset %q: channels=%s: want 1 or 3", name, v)
	}
	if v := sp.opt["layout"]; v != "" && !strings.EqualFold(v, "nchw") && !strings.EqualFold(v, "nhwc") {
		return sp, true, fmt.Errorf("dataset %q: layout=%s: want nchw or nhwc", name, v)
	}
	if v := sp.opt["classes"]; v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return sp, true, fmt.Errorf("dataset %q: classes=%s: want a positive number", name, v)
		}
	}
	return sp, true, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// ownProfile returns the profile of an own data name: no architecture, noise,
// budgets or restarts, and a reader of the files it names; ok is false for other
// names.
func ownProfile(name string) (p Profile, ok bool, err error) {
	sp, ok, err := parseOwn(name)
	if !ok || err != nil {
		return p, ok, err
	}
	p = Profile{Name: name, Dir: "."}
	switch sp.kind {
	case OwnFolder:
		ch, _ := strconv.Atoi(sp.opt["channels"])
		p.Path, p.Desc = sp.path, "class subfolders of PNG or JPEG images"
		p.Reader = Reader{files: folderFiles, load: folderLoader(ch)}
	case OwnCIFAR10:
		p.Path, p.Desc = sp.path, "CIFAR-10's binary batches (data_batch_1.bin ... test_batch.bin)"
		p.Reader = Reader{files: cifarFiles, load: loadCIFAR10}
	case OwnNPZ:
		p.Path, p.Desc = filepath.Dir(sp.path), "a .npz of images and labels"
		p.Reader = npzReader(filepath.ToSlash(filepath.Base(sp.path)), sp.opt)
	case OwnNPY:
		root, rels, err := commonRoot(sp.path, sp.opt["y"])
		if err != nil {
			return p, true, fmt.Errorf("dataset %q: %v", name, err)
		}
		p.Path, p.Desc = root, "a .npy of images and a .npy of labels"
		p.Reader = npyReader(rels[0], rels[1], sp.opt)
	}
	return p, true, nil
}

// commonRoot returns the folder two files are read from (theirs when they share it,
// else their deepest common ancestor) and their slash paths relative to it.
func commonRoot(a, b string) (string, [2]string, error) {
	if filepath.Dir(a) == filepath.Dir(b) {
		return filepath.Dir(a), [2]string{filepath.Base(a), filepath.Base(b)}, nil
	}
	aa, err := filepath.Abs(a)
	if err != nil {
		return "", [2]string{}, err
	}
	ab, err := filepath.Abs(b)
	if err != nil {
		return "", [2]string{}, err
	}
	root := filepath.Dir(aa)
	for {
		ra, errA := filepath.Rel(root, aa)
		rb, errB := filepath.Rel(root, ab)
		if errA == nil && errB == nil && !strings.HasPrefix(rb, "..") {
			return root, [2]string{filepath.ToSlash(ra), filepath.ToSlash(rb)}, nil
		}
		up := filepath.Dir(root)
		if up == root {
			return "", [2]string{}, fmt.Errorf("%s and %s share no folder", a, b)
		}
		root = up
	}
}

// IsOwn reports whether name is an own data name (KIND:PATH), well formed or not.
func IsOwn(name string) bool {
	_, ok, _ := parseOwn(name)
	return ok
}

// FileStem is a name for files about a dataset (a grid picture, say): the name of a
// built-in dataset, "KIND-BASE" for own data ("folder-digits", "npz-mnist").
func FileStem(name string) string {
	sp, ok, _ := parseOwn(name)
	if !ok {
		return name
	}
	base := strings.TrimSuffix(filepath.Base(filepath.Clean(sp.path)), filepath.Ext(sp.path))
	clean := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, base)
	if clean = strings.Trim(clean, "._"); clean == "" { // folder:. or folder:/
		return sp.kind
	}
	return sp.kind + "-" + clean
}

// emptyLike is an empty split with the shape and classes of s (the training split of
// a collection that holds only a test set).
func emptyLike(name string, s *Set) *Set {
	return &Set{Name: name, C: s.C, H: s.H, W: s.W, Images: []float32{}, Labels: []int{}, Classes: s.Classes, ClassNames: s.ClassNames}
}

// numberNames are the class names "0", "1", ... of data that names none.
func numberNames(k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}
