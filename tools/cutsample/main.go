// Command cutsample writes the embedded MNIST sample: the first 20 training images and the
// first 10 test images of each class, in file order, as gzipped IDX files with the
// official names. Run from the repository root:
//
//	go run ./tools/cutsample -src ../shared/data/mnist -dst data/sample/mnist
//
// The output is deterministic (no gzip name or time), so rerunning it on the official
// files reproduces the committed bytes.
package main

import (
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/eabs/eabs/data"
)

func main() {
	src := flag.String("src", "", "directory with the official MNIST IDX files")
	dst := flag.String("dst", "data/sample/mnist", "output directory")
	flag.Parse()
	for _, s := range []struct {
		prefix   string
		perClass int
	}{{"train", 20}, {"t10k", 10}} {
		img := readIDX(filepath.Join(*src, s.prefix+"-images-idx3-ubyte.gz"))
		lbl := readIDX(filepath.Join(*src, s.prefix+"-labels-idx1-ubyte.gz"))
		size := img.Dims[1] * img.Dims[2]
		var pix, labels []byte
		count := make([]int, 10)
		for i, l := range lbl.Data {
			if count[l] < s.perClass {
				count[l]++
				pix = append(pix, img.Data[i*size:(i+1)*size]...)
				labels = append(labels, l)
			}
		}
		n := len(labels)
		write(filepath.Join(*dst, s.prefix+"-images-idx3-ubyte.gz"), 0x803, []int{n, img.Dims[1], img.Dims[2]}, pix)
		write(filepath.Join(*dst, s.prefix+"-labels-idx1-ubyte.gz"), 0x801, []int{n}, labels)
		fmt.Printf("%s: %d images\n", s.prefix, n)
	}
}

func readIDX(path string) *data.IDX {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	x, err := data.ReadIDX(f, path)
	if err != nil {
		log.Fatal(err)
	}
	return x
}

func write(path string, magic uint32, dims []int, body []byte) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	binary.Write(zw, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(zw, binary.BigEndian, uint32(d))
	}
	zw.Write(body)
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
