package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// CIFAR-10's binary version (https://www.cs.toronto.edu/~kriz/cifar.html, "CIFAR-10
// binary version (suitable for C programs)"): each file is a sequence of records of 1
// label byte (0-9) and 3072 pixel bytes, the 1024 red, then green, then blue values of
// a 32x32 image in row-major order, which is already NCHW.
const (
	cifarSide    = 32
	cifarPixels  = 3 * cifarSide * cifarSide
	cifarRecord  = 1 + cifarPixels
	cifarClasses = 10
	// cifarSubdir is the folder the official archive unpacks to.
	cifarSubdir = "cifar-10-batches-bin"
)

// cifarNames are the class names batches.meta.txt lists, used when it is absent.
var cifarNames = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// ReadCIFAR10 reads one batch file of CIFAR-10's binary version into a Set named
// split; file names it in errors. A file that is not a whole number of records, a
// label outside 0-9 or a file of no records is a *FormatError.
func ReadCIFAR10(r io.Reader, file, split string) (*Set, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	s := &Set{Name: split, C: 3, H: cifarSide, W: cifarSide, Classes: cifarClasses, ClassNames: cifarNames}
	rec := make([]byte, cifarRecord)
	for {
		n, err := io.ReadFull(br, rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, formatErr(file, "truncated: record %d has %d of its %d bytes (1 label byte + 3072 pixel bytes); the file is not a whole number of records", s.N, n, cifarRecord)
		}
		if err != nil {
			return nil, readErr(file, err)
		}
		if rec[0] >= cifarClasses {
			return nil, formatErr(file, "record %d (byte offset %d): label %d outside 0-9: not a CIFAR-10 batch (CIFAR-100's binary records have 2 label bytes)", s.N, s.N*cifarRecord, rec[0])
		}
		s.Labels = append(s.Labels, int(rec[0]))
		for _, v := range rec[1:] {
			s.Images = append(s.Images, byteScale[v])
		}
		s.N++
	}
	if s.N == 0 {
		return nil, formatErr(file, "empty: no CIFAR-10 records")
	}
	return s, nil
}

// cifarDir is the folder at the source's root holding the batches: the root, or the
// cifar-10-batches-bin/ inside it.
func cifarDir(src *source) string {
	if !src.isFile("test_batch.bin") && src.isDir(cifarSubdir) {
		return cifarSubdir
	}
	return "."
}

// cifarBatches lists the training batches present (data_batch_1.bin to _5, all or
// none: a partial set is a partial download) and the test batch, which must exist.
func cifarBatches(src *source) (train []string, test string, err error) {
	dir := cifarDir(src)
	test = path.Join(dir, "test_batch.bin")
	if !src.isFile(test) {
		return nil, "", notFound("%s not found (CIFAR-10's binary version: data_batch_1.bin ... data_batch_5.bin, test_batch.bin)", src.display(test))
	}
	var missing []string
	for i := 1; i <= 5; i++ {
		f := path.Join(dir, fmt.Sprintf("data_batch_%d.bin", i))
		if src.isFile(f) {
			train = append(train, f)
		} else {
			missing = append(missing, path.Base(f))
		}
	}
	if len(train) > 0 && len(missing) > 0 {
		return nil, "", notFound("%s: %s missing beside the other training batches (a partial download?)", src.display(dir), strings.Join(missing, ", "))
	}
	return train, test, nil
}

func cifarFiles(src *source) ([]string, error) {
	train, test, err := cifarBatches(src)
	if err != nil {
		return nil, err
	}
	files := append(train, test)
	if meta := path.Join(cifarDir(src), "batches.meta.txt"); src.isFile(meta) {
		files = append(files, meta)
	}
	return files, nil
}

// loadCIFAR10 reads the batches: the five training batches (none: an empty training
// split) and the test batch, with the class names of batches.meta.txt when present.
func loadCIFAR10(src *source, opt Options) (train, test *Set, err error) {
	trainFiles, testFile, err := cifarBatches(src)
	if err != nil {
		return nil, nil, err
	}
	names := cifarNames
	if meta := path.Join(cifarDir(src), "batches.meta.txt"); src.isFile(meta) {
		b, err := src.readFile(meta)
		if err != nil {
			return nil, nil, err
		}
		names = nil
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				names = append(names, l)
			}
		}
		if len(names) != cifarClasses {
			return nil, nil, formatErr(src.display(meta), "lists %d class names, want CIFAR-10's %d (one per line)", len(names), cifarClasses)
		}
	}
	p := &progress{f: opt.Progress, total: len(trainFiles) + 1}
	read := func(f, split string) (*Set, error) {
		var s *Set
		err := src.read(f, func(r io.Reader) (err error) {
			s, err = ReadCIFAR10(r, src.display(f), split)
			return err
		})
		p.add(1)
		return s, err
	}
	if test, err = read(testFile, "test"); err != nil {
		return nil, nil, err
	}
	test.ClassNames = names
	train = emptyLike("train", test)
	for _, f := range trainFiles {
		s, err := read(f, "train")
		if err != nil {
			return nil, nil, err
		}
		train.N += s.N
		train.Images = append(train.Images, s.Images...)
		train.Labels = append(train.Labels, s.Labels...)
	}
	return train, test, nil
}
