package data

import (
	"fmt"
	"sync"
)

// Profile is everything eabs knows about a dataset: where its files are and how they
// are read, the architecture of Table 9 its models use, its noise augmentation, and
// the paper's attack budgets and restarts. Adding a dataset is adding a profile
// (Register); a dataset without one is an error wherever it is named, never a silent
// default.
type Profile struct {
	Name string
	// Dir is the folder inside the data root; Desc says what it must hold (for "not
	// found" errors); Reader reads it.
	Dir, Desc string
	Reader    Reader
	// Embedded datasets are always read from the sample compiled into the binary.
	Embedded bool
	// Path is the folder own data (KIND:PATH, see OwnForms) is read from, whatever
	// data root is passed; "" for the built-in datasets.
	Path string
	// Arch names the architecture of models trained on the dataset (models.ArchFor);
	// "" for data with none (GTSRB's 43 classes, which the paper does not train on).
	Arch string
	// Noise is the std of the Gaussian training augmentation (Section 4.3: 0.2 for
	// MNIST and Fashion-MNIST, 0.01 for SVHN and the traffic signs).
	Noise float64
	// EpsL2 and EpsLinf are the paper's attack budgets (Section 4.2), Restarts its PGD
	// random restarts (5 on MNIST and Fashion-MNIST, 20 on SVHN and the traffic signs).
	EpsL2, EpsLinf float64
	Restarts       int
}

// Reader reads a dataset's files from its folder: files lists them without decoding
// (for fingerprints), load decodes both splits.
type Reader struct {
	files func(src *source) ([]string, error)
	load  func(src *source, opt Options) (train, test *Set, err error)
}

// IDXReader reads the four IDX files of the MNIST layout (train-images-idx3-ubyte.gz,
// ...) in folder dir, naming the classes names.
func IDXReader(dir string, names []string) Reader {
	return Reader{files: idxFiles(dir), load: idxLoader(dir, names)}
}

var profiles = struct {
	sync.Mutex
	m map[string]Profile
}{m: map[string]Profile{}}

// Register adds a dataset profile; a name already registered is an error.
func Register(p Profile) error {
	if p.Name == "" || p.Dir == "" || p.Reader.load == nil {
		return fmt.Errorf("data: profile %q needs a name, a folder and a reader", p.Name)
	}
	if !(p.EpsL2 > 0) || !(p.EpsLinf > 0) || p.Restarts < 1 || p.Noise < 0 {
		return fmt.Errorf("data: profile %q: budgets %g (L2) and %g (Linf) and restarts %d must be positive, noise %g not negative",
			p.Name, p.EpsL2, p.EpsLinf, p.Restarts, p.Noise)
	}
	profiles.Lock()
	defer profiles.Unlock()
	if _, dup := profiles.m[p.Name]; dup {
		return fmt.Errorf("data: dataset %q is registered already", p.Name)
	}
	profiles.m[p.Name] = p
	return nil
}

// ProfileOf returns a dataset's profile; an unknown name is an *UnknownDatasetError.
// An own data name (KIND:PATH) gets a profile built from the name, with no
// architecture, noise or budgets; a malformed one is an error saying what is wrong.
func ProfileOf(name string) (Profile, error) {
	if p, ok, err := ownProfile(name); ok {
		return p, err
	}
	profiles.Lock()
	defer profiles.Unlock()
	p, ok := profiles.m[name]
	if !ok {
		return Profile{}, &UnknownDatasetError{Name: name}
	}
	return p, nil
}

func mustRegister(p Profile) {
	if err := Register(p); err != nil {
		panic(err)
	}
}

// The paper's datasets (Section 4.1) and the embedded sample.
func init() {
	const gtsrbDesc = "the official GTSRB layout (Final_Training/Images/000NN/, Final_Test/Images/, GT-final_test.csv)"
	grey := Profile{Arch: "mnist", Noise: 0.2, EpsL2: 1.5, EpsLinf: 0.3, Restarts: 5}
	rgb := Profile{Noise: 0.01, EpsL2: 1.5, EpsLinf: 8.0 / 255, Restarts: 20}
	with := func(base Profile, f func(p *Profile)) Profile { f(&base); return base }
	mustRegister(with(grey, func(p *Profile) {
		p.Name, p.Dir, p.Desc, p.Reader = "mnist", "mnist", "the four MNIST IDX files (train-images-idx3-ubyte.gz, ...)", IDXReader("mnist", digitNames)
	}))
	mustRegister(with(grey, func(p *Profile) {
		p.Name, p.Dir, p.Desc, p.Reader, p.Embedded = "mnist-sample", "mnist", "the embedded MNIST sample", IDXReader("mnist", digitNames), true
	}))
	mustRegister(with(grey, func(p *Profile) {
		p.Name, p.Dir, p.Desc, p.Reader = "fashion-mnist", "fashion-mnist", "the four Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...)", IDXReader("fashion-mnist", fashionNames)
		p.EpsLinf = 0.1
	}))
	mustRegister(with(rgb, func(p *Profile) {
		p.Name, p.Dir, p.Desc, p.Reader, p.Arch = "gtsrb", gtsrbDir, gtsrbDesc, Reader{gtsrbFiles(false), gtsrbLoader(false)}, ""
	}))
	mustRegister(with(rgb, func(p *Profile) {
		p.Name, p.Dir, p.Desc, p.Reader, p.Arch = "gtsrb-10", gtsrbDir, gtsrbDesc, Reader{gtsrbFiles(true), gtsrbLoader(true)}, "traffic"
	}))
	mustRegister(with(rgb, func(p *Profile) {
		p.Name, p.Dir, p.Desc, p.Reader, p.Arch = "svhn", "svhn", "train_32x32.mat and test_32x32.mat (MATLAB v5)", Reader{svhnFiles, loadSVHN}, "svhn"
	}))
}
