// Package data reads the image datasets eabs trains and evaluates on, in the layouts
// their publishers distribute (or a user's own, see "Own data"), and turns them into
// one in-memory form: float32 pixels in [0,1], NCHW, with integer labels.
//
// # Datasets
//
// [Load] takes a dataset name and a root directory; each dataset lives in its own
// folder inside the root ([Dir] names it), exactly as the official downloads unpack:
//
//	mnist/          train-images-idx3-ubyte.gz ... t10k-labels-idx1-ubyte.gz (IDX, gzipped or raw)
//	fashion-mnist/  the same four IDX files
//	gtsrb/GTSRB/    Final_Training/Images/000NN/*.ppm + GT-000NN.csv, Final_Test/Images/*.ppm + GT-final_test.csv
//	svhn/           train_32x32.mat, test_32x32.mat (MATLAB v5)
//
// "gtsrb-10" reads the GTSRB folder and keeps the paper's traffic-sign subset (see
// [Load]); "mnist-sample" is a 200+100 image cut of MNIST compiled into the binary,
// so commands work on a fresh clone with no data at all. The root [EmbeddedRoot]
// selects that embedded copy for any dataset it holds.
//
// The library never guesses a root: callers (the CLI) decide where data lives.
//
// # Own data
//
// Wherever a dataset name is taken, a name of the form KIND:PATH[#KEY=VALUE,...]
// reads a user's files instead of a built-in dataset, whatever the root. The prefix
// says the format, so a name is never guessed from what a path looks like, and the
// options ride along in the one name that commands, result headers and resumed states
// already carry ([OwnForms]):
//
//	folder:DIR       class subfolders of PNG/JPEG images, like torchvision's ImageFolder:
//	                 label k is the k-th subfolder in sorted order (hidden ones skipped),
//	                 images anywhere below it; DIR/train/ and DIR/test/ are the two splits
//	                 when DIR holds them. Every image must have the same size (no
//	                 resizing). Option channels=1|3 (default 1 when every image is
//	                 greyscale, else 3).
//	npz:FILE         images x and labels y (the test split), or Keras' x_train, y_train,
//	                 x_test, y_test; options x, y, x_train, y_train name other arrays,
//	                 names an array of class names (default class_names when present),
//	                 layout, classes.
//	npy:FILE#y=FILE  images and labels in two .npy files (the test split); options
//	                 layout, classes.
//	cifar10:DIR      CIFAR-10's binary version: data_batch_1.bin ... data_batch_5.bin
//	                 (train, all or none), test_batch.bin (test), batches.meta.txt (class
//	                 names; the official ones when absent); DIR may hold
//	                 cifar-10-batches-bin/.
//
// Arrays hold uint8 pixels (scaled by 1/255) or float32/float64 pixels in [0,1] (NaN
// and values outside are refused), as (N, H, W), (N, C, H, W) or (N, H, W, C) with C 1
// or 3: a 4-d array's layout is the one whose channel axis has size 1 or 3, and when
// axis 1 and axis 3 both do, layout=nchw or layout=nhwc must say which. Labels are
// integers of shape (N,) or (N, 1); there are classes=N classes, else as many as the
// class names, else the largest label + 1, and a label beyond is refused. Class names
// go into Set.ClassNames (folder names, the names array, CIFAR's meta file; "0", "1",
// ... otherwise), and from there into results. A collection of one set is the test
// split, with an empty training split.
//
// Own data has no architecture, noise augmentation or attack budgets ([Profile]):
// commands that need budgets take them from flags and refuse to run without them, and
// training refuses it.
//
// # Errors
//
// Malformed input is reported as a [*FormatError] naming the file and the problem.
// The readers never panic on bad bytes, and a body whose size a header announces is
// read in growing chunks, so memory stays within twice the bytes that actually arrived
// plus 64 KB: a header that lies about its sizes fails fast with "truncated" instead
// of exhausting memory. Missing files and folders are a [*NotFoundError], which
// matches fs.ErrNotExist. Misuse of the API (a split fraction outside [0,1], an index
// out of range) panics, as in the standard library.
//
// # Reproducibility
//
// Nothing here uses global randomness: [Set.Split] takes a *rand.Rand. Every load
// records the SHA-256 of each file it read and a combined [Dataset.Fingerprint] for
// run manifests; [Fingerprint] computes the same value without decoding.
package data
