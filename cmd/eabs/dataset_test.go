package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/models"
)

var registerShapes sync.Once

// TestNewDatasetIsOneProfile: a dataset eabs does not know becomes usable everywhere by
// registering one data.Profile (its folder, reader, architecture and budgets): attack
// and certify then run on it end to end, at the profile's budgets.
func TestNewDatasetIsOneProfile(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 3))
	for split, n := range map[string]int{"train": 30, "t10k": 12} {
		pix, labels := make([]byte, n*28*28), make([]byte, n)
		for i := range pix {
			pix[i] = byte(rng.IntN(256))
		}
		for i := range labels {
			labels[i] = byte(i % 3)
		}
		writeGzIDX(t, filepath.Join(dir, "shapes", split+"-images-idx3-ubyte.gz"), 0x803, []int{n, 28, 28}, pix)
		writeGzIDX(t, filepath.Join(dir, "shapes", split+"-labels-idx1-ubyte.gz"), 0x801, []int{n}, labels)
	}
	registerShapes.Do(func() {
		err := data.Register(data.Profile{Name: "shapes", Dir: "shapes", Desc: "three classes of noise in the MNIST layout",
			Reader: data.IDXReader("shapes", []string{"a", "b", "c"}), Arch: "tiny", Noise: 0.2, EpsL2: 1.25, EpsLinf: 0.2, Restarts: 1})
		if err != nil {
			t.Fatal(err)
		}
	})
	spec, err := models.NewSpec("shapes", "eabs")
	if err != nil {
		t.Fatal(err)
	}
	w, err := models.NewWeights(spec, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "shapes.eabs")
	if err := models.SaveModel(model, w, map[string]string{"dataset": "shapes"}); err != nil {
		t.Fatal(err)
	}
	inf := []string{"--starts", "20", "--infer-steps", "2"}
	res := filepath.Join(dir, "attack.json")
	if out, err := run(t, append([]string{"attack", model, "--data-dir", dir, "--n", "4", "--attacks", "pgd-l2,pgd-linf", "--pgd-steps", "2",
		"--eot", "1", "--verdict-eot", "1", "--sweep-n", "0", "--runtime", "ref", "--out", res}, inf...)...); err != nil {
		t.Fatalf("attack: %v\n%s", err, out)
	}
	r, err := eval.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	if r.Header.Dataset != "shapes" || len(r.Records) != 4 || r.Settings.Attacks[0].Eps != 1.25 || r.Settings.Attacks[1].Eps != 0.2 {
		t.Errorf("attack on shapes: dataset %q, %d records, budgets %g and %g; want shapes, 4, the profile's 1.25 and 0.2",
			r.Header.Dataset, len(r.Records), r.Settings.Attacks[0].Eps, r.Settings.Attacks[1].Eps)
	}
	cert := filepath.Join(dir, "certify.json")
	if out, err := run(t, append([]string{"certify", model, "--data-dir", dir, "--n", "2", "--restarts", "1", "--max-restarts", "1", "--out", cert}, inf...)...); err != nil {
		t.Fatalf("certify: %v\n%s", err, out)
	}
	c, err := certify.ReadReport(cert)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dataset != "shapes" || len(c.Results) != 2 {
		t.Errorf("certify on shapes: dataset %q, %d results", c.Dataset, len(c.Results))
	}
}

// writeGzIDX writes a gzipped IDX file: magic, dimensions, bytes.
func writeGzIDX(t *testing.T, path string, magic uint32, dims []int, b []byte) {
	t.Helper()
	var raw bytes.Buffer
	binary.Write(&raw, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&raw, binary.BigEndian, uint32(d))
	}
	raw.Write(b)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(raw.Bytes())
	zw.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
