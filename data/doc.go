// Package data reads the image datasets eabs trains and evaluates on, in the layouts
// their publishers distribute, and turns them into one in-memory form: float32 pixels
// in [0,1], NCHW, with integer labels.
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
