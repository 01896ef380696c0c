package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/crosscheck"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/internal/onnxfixtures"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime/ort"
)

func needORT(t *testing.T) {
	t.Helper()
	if _, err := ort.LibraryPath(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
}

// TestAttackPlainONNX: the zoo CNN exported to ONNX and attacked as a plain .onnx file
// (ONNX Runtime, gradients from its onnx/grad graph) gets the verdicts the zoo model
// gets on its native path (the float64 reference graph) from PGD on the same 6 images:
// the same clean predictions and the same samples broken. Square stays within the
// query budget given.
func TestAttackPlainONNX(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ONNX Runtime")
	}
	needORT(t)
	dir := t.TempDir()
	if _, err := run(t, "export", "zoo:mnist-cnn", "--out", filepath.Join(dir, "exp")); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "exp", "cnn.onnx")
	results := map[string]*eval.Result{}
	for _, m := range []string{model, "zoo:mnist-cnn"} {
		out := filepath.Join(dir, fmt.Sprintf("pgd%d.json", len(results)))
		if o, err := run(t, "attack", m, "--dataset", "mnist-sample", "--attacks", "pgd-l2,pgd-linf", "--pgd-steps", "20", "--pgd-restarts", "1",
			"--n", "6", "--sweep-n", "0", "--out", out); err != nil {
			t.Fatalf("%v\n%s", err, o)
		}
		r, err := eval.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		results[m] = r
	}
	plain, zoo := results[model], results["zoo:mnist-cnn"]
	for i, rec := range plain.Records {
		z := zoo.Records[i]
		if rec.CleanPred != z.CleanPred || rec.Attacks[0].Robust != z.Attacks[0].Robust || rec.Attacks[1].Robust != z.Attacks[1].Robust {
			t.Errorf("sample %d: plain .onnx clean %d, robust %v %v; zoo clean %d, robust %v %v", rec.Pos,
				rec.CleanPred, rec.Attacks[0].Robust, rec.Attacks[1].Robust, z.CleanPred, z.Attacks[0].Robust, z.Attacks[1].Robust)
		}
		for _, a := range rec.Attacks {
			if a.Ran && (a.GradRows == 0 || a.GradZero != 0 || a.GradNaN != 0) {
				t.Errorf("sample %d %s: %d gradient rows, %d zero, %d NaN", rec.Pos, a.Name, a.GradRows, a.GradZero, a.GradNaN)
			}
		}
	}
	out := filepath.Join(dir, "sq.json")
	if _, err := run(t, "attack", model, "--dataset", "mnist-sample", "--attacks", "square-linf", "--n", "4", "--queries", "60", "--sweep-n", "0", "--out", out); err != nil {
		t.Fatal(err)
	}
	r, err := eval.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range r.Records {
		if a := rec.Attacks[0]; a.Queries > 60 || (a.Ran && a.Queries == 0) {
			t.Errorf("sample %d: %s spent %d queries, budget 60", rec.Pos, a.Name, a.Queries)
		}
	}
	if _, err := run(t, "attack", model, "--attacks", "square-linf", "--out", filepath.Join(dir, "x.json")); err == nil || !strings.Contains(err.Error(), "--dataset") {
		t.Errorf("plain ONNX without --dataset: error %v, want one asking for --dataset", err)
	}
}

// TestClassifyPlainONNXFiles: image files classified by a plain .onnx (read at the
// model's input size) get the logits the same images get from the dataset, within
// 1e-5 of the largest (the readers may round pixel/255 differently in the last bit).
func TestClassifyPlainONNXFiles(t *testing.T) {
	needORT(t)
	lenet := onnxfixtures.Get(t, "mnist-lenet").Path
	ds, err := data.Load("mnist-sample", data.EmbeddedRoot)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	for i := range 3 {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for p, v := range ds.Test.Image(i) {
			img.Pix[p] = byte(math.Round(float64(v) * 255))
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.Join(dir, fmt.Sprintf("%d.png", i)))
		writeTestFile(t, files[i], b.Bytes())
	}
	a, b := filepath.Join(dir, "files.json"), filepath.Join(dir, "set.json")
	if out, err := run(t, append([]string{"classify", lenet, "--out", a}, files...)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := run(t, "classify", lenet, "--dataset", "mnist-sample", "--n", "3", "--sample-seed", "0", "--out", b); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fr, err := eval.ReadClassify(a)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := eval.ReadClassify(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		f, s := fr.Records[i].Logits, sr.Records[i].Logits
		scale := 0.0
		for _, v := range s {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for j := range s {
			if len(f) != len(s) || math.Abs(float64(f[j]-s[j])) > 1e-5*scale {
				t.Errorf("image %d: logits %v from the file, %v from the dataset", i, f, s)
				break
			}
		}
	}
}

// cifarBatch writes n seeded random 32x32 RGB images with labels i%10 in CIFAR-10's
// binary format, for the fixtures without data.
func cifarBatch(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(28, 2))
	var b []byte
	for i := range n {
		b = append(b, byte(i%10))
		for range 3072 {
			b = append(b, byte(rnd.IntN(256)))
		}
	}
	writeTestFile(t, filepath.Join(dir, "test_batch.bin"), b)
	return dir
}

// TestPlainONNXFixtures: every command on each PyTorch-exported classifier of
// ../shared/onnx-models, options as its README gives them (the NHWC layouts are read
// from the graphs): classify, whose accuracy on the whole test set is the fixture's
// (without -short); PGD and Square; certify --smoothing; crosscheck, which passes;
// report on the attack and classify results. The two random 32x32 models run on
// CIFAR-10 batches written here.
func TestPlainONNXFixtures(t *testing.T) {
	needORT(t)
	fixtures := onnxfixtures.Load(t)
	cifar := cifarBatch(t, 8)
	dataDir := onnxfixtures.DataDir()
	for _, f := range fixtures {
		t.Run(f.Name, func(t *testing.T) {
			dir := t.TempDir()
			ds := []string{"--dataset", "cifar10:" + cifar}
			eps := []string{"--eps-linf", "8/255", "--eps-l2", "0.5"}
			if f.Dataset != "none" {
				ds, eps = []string{"--dataset", f.Dataset, "--data-dir", dataDir}, nil
			}
			var opts []string
			if f.Output == "probabilities" {
				opts = []string{"--output-kind", "probabilities"}
			}
			cmd := func(args ...string) string {
				t.Helper()
				args = append(append(args, ds...), opts...)
				out, err := run(t, args...)
				if err != nil {
					t.Fatalf("eabs %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return out
			}
			cls := filepath.Join(dir, "classify.json")
			n := []string{"--n", "200"}
			if !testing.Short() || f.Dataset == "none" {
				n = []string{"--all"}
			}
			cmd(append([]string{"classify", f.Path, "--out", cls, "--batch", "64"}, n...)...)
			c, err := eval.ReadClassify(cls)
			if err != nil {
				t.Fatal(err)
			}
			if n[0] == "--all" && f.Dataset != "none" {
				want := int(math.Round(f.TestAccuracy * float64(c.Accuracy.N)))
				if c.Accuracy.N != 10000 || c.Accuracy.K != want {
					t.Errorf("accuracy on the test set %d/%d, PyTorch's %v (%d)", c.Accuracy.K, c.Accuracy.N, f.TestAccuracy, want)
				}
			}
			att := filepath.Join(dir, "attack.json")
			cmd(append([]string{"attack", f.Path, "--attacks", "pgd-linf,square-linf", "--pgd-steps", "10", "--pgd-restarts", "1", "--queries", "50",
				"--n", "4", "--sweep-n", "0", "--out", att}, eps...)...)
			r, err := eval.ReadFile(att)
			if err != nil {
				t.Fatal(err)
			}
			ran := 0
			for _, rec := range r.Records {
				if a := rec.Attacks[0]; a.Ran {
					ran++
					if a.GradRows == 0 || a.GradNaN != 0 {
						t.Errorf("sample %d: PGD got %d gradient rows, %d NaN", rec.Pos, a.GradRows, a.GradNaN)
					}
				}
			}
			if f.Dataset != "none" && ran == 0 {
				t.Errorf("PGD ran on no sample")
			}
			sm := filepath.Join(dir, "smooth.json")
			cmd("certify", "--smoothing", "0.25", f.Path, "--n", "2", "--n0", "10", "--samples", "100", "--out", sm)
			var rep certify.SmoothReport
			if err := readJSON(sm, &rep); err != nil || len(rep.Results) != 2 || rep.Header.Config == "" {
				t.Errorf("certify --smoothing: %d results (%v)", len(rep.Results), err)
			}
			cc := filepath.Join(dir, "cc.json")
			cmd("crosscheck", f.Path, "--n", "8", "--grad-images", "2", "--out", cc)
			var x crosscheck.Result
			if err := readJSON(cc, &x); err != nil || !x.Pass || len(x.Runs) != 2 {
				t.Errorf("crosscheck: pass %v with %d runs (%v)", x.Pass, len(x.Runs), err)
			}
			if out, err := run(t, "report", att, "--out-dir", filepath.Join(dir, "report")); err != nil || !strings.Contains(out, f.Name) {
				t.Errorf("report: %v\n%s", err, out)
			}
		})
	}
}

// TestPlainONNXBadInput: what does not fit a plain .onnx model is refused before any
// work, with an error naming the problem: a label outside the model's classes, a
// layout the graph contradicts, bounds that do not increase, a NaN mean or std, an
// output that is not 2-D, images of another shape, the options on an eabs model, an
// attack needing what a classifier lacks (lda's reconstructions), and a gradient
// attack on a graph the differentiator cannot take (naming the node, and writing no
// results or state).
func TestPlainONNXBadInput(t *testing.T) {
	needORT(t)
	lenet := onnxfixtures.Get(t, "mnist-lenet").Path
	fashion := onnxfixtures.Get(t, "fashion-mlp-nhwc-softmax").Path
	rgb := onnxfixtures.Get(t, "rgb32-ops-random-batch1").Path
	dir := t.TempDir()
	write := func(name string, build func(g *onnx.Graph)) string {
		g := onnx.NewGraph(name)
		build(g)
		path := filepath.Join(dir, name+".onnx")
		if err := (&onnx.Model{Graph: g}).WriteFile(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	out3d := write("out3d", func(g *onnx.Graph) {
		x := g.Input("x", onnx.Shape("N", 1, 28, 28)...)
		g.Output("s", g.Op("ReduceMean", []string{x}, onnx.IntsAttr("axes", 3)), onnx.Shape("N", 1, 28, 1)...)
	})
	floor := write("floor", func(g *onnx.Graph) {
		x := g.Input("x", onnx.Shape("N", 1, 28, 28)...)
		w := make([]float32, 784*10)
		for i := range w {
			w[i] = float32(i%13) / 13
		}
		z := g.Op("Gemm", []string{g.Op("Flatten", []string{x}), g.Initializer("W", []int{784, 10}, w)})
		g.Output("s", g.Op("Floor", []string{z}), onnx.Shape("N", 10)...)
	})
	// Ten blank digits, the last labelled 11: past the model's ten classes.
	bad := filepath.Join(dir, "labels.npz")
	writeTestFile(t, bad, npzOf(t, make([]byte, 10*784), "(10, 28, 28, 1)", []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 11}))
	data := []string{"--dataset", "mnist-sample"}
	floorOut := filepath.Join(dir, "floor.json")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"classify", lenet, "--dataset", "npz:" + bad}, "label 11 of image 9 is outside the 10 classes [0,10) of model"},
		{append([]string{"classify", fashion, "--layout", "NCHW"}, data...), `layout NCHW contradicts input "input" of shape [?,28,28,1], which is NHWC`},
		{append([]string{"classify", lenet, "--bounds", "1,0"}, data...), "--bounds 1,0: want two numbers lo,hi with lo < hi"},
		{append([]string{"attack", lenet, "--bounds", "0", "--out", filepath.Join(dir, "x.json")}, data...), "--bounds 0: want two numbers"},
		{append([]string{"classify", lenet, "--mean", "nan"}, data...), `--mean nan: "nan" is not a finite number`},
		{append([]string{"certify", "--smoothing", "0.25", lenet, "--std", "0.3,NaN"}, data...), `--std 0.3,NaN: "NaN" is not a finite number`},
		{append([]string{"classify", lenet, "--std", "0"}, data...), "--std 0: every standard deviation must be > 0"},
		{append([]string{"classify", lenet, "--mean", "0.5,0.5"}, data...), "mean has 2 values; the model's images have 1 channels"},
		{append([]string{"classify", out3d}, data...), `output "s" has shape [?,1,28,1]; a classifier's scores are 2-D (batch, classes)`},
		{append([]string{"classify", lenet, "--output-name", "probs"}, data...), `no output "probs" (its outputs: output float [?,10])`},
		{append([]string{"classify", rgb}, data...), "takes 3x32x32 images (input \"input\" [1,3,32,32], NCHW); data mnist-sample has 1x28x28"},
		{append([]string{"classify", "zoo:mnist-cnn", "--mean", "0.5"}, data...), "--mean applies to a plain .onnx classifier; zoo:mnist-cnn is an eabs model"},
		{append([]string{"classify", lenet, "--layout", "CHW"}, data...), `--layout "CHW": want one of NCHW`},
		{append([]string{"classify", lenet, "--output-kind", "scores"}, data...), `--output-kind "scores": want one of logits`},
		{append([]string{"crosscheck", "zoo:mnist-cnn", "--grad-images", "3"}, data...), "--grad-images applies to plain .onnx classifiers"},
		{append([]string{"attack", floor, "--attacks", "square-linf,pgd-l2", "--out", floorOut}, data...),
			`pgd-l2 need input gradients, which this model does not give (the gradient-free attacks run: `},
		{append([]string{"attack", floor, "--attacks", "pgd-l2", "--out", floorOut}, data...), `unsupported operator: Floor (node "node_`},
		{append([]string{"attack", lenet, "--attacks", "square-linf,lda", "--out", floorOut}, data...), "attack lda needs Reconstructor"},
	} {
		out, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eabs %s: error %v, want one containing %q\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
	}
	for _, p := range []string{floorOut, floorOut + ".state"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the refused attack wrote %s", p)
		}
	}
	// The same graph runs its gradient-free attacks.
	if out, err := run(t, append([]string{"attack", floor, "--attacks", "square-linf", "--queries", "20", "--n", "2", "--sweep-n", "0", "--out", floorOut}, data...)...); err != nil {
		t.Errorf("square-linf on a graph without gradients: %v\n%s", err, out)
	}
}

// npzOf is a .npz of uint8 images x of the given shape and int64 labels y.
func npzOf(t *testing.T, pix []byte, shape string, labels []int64) []byte {
	t.Helper()
	var lb bytes.Buffer
	binary.Write(&lb, binary.LittleEndian, labels)
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	for _, m := range []struct {
		name, header string
		body         []byte
	}{
		{"x", fmt.Sprintf("{'descr': '|u1', 'fortran_order': False, 'shape': %s, }", shape), pix},
		{"y", fmt.Sprintf("{'descr': '<i8', 'fortran_order': False, 'shape': (%d,), }", len(labels)), lb.Bytes()},
	} {
		w, err := zw.Create(m.name + ".npy")
		if err != nil {
			t.Fatal(err)
		}
		h := m.header + strings.Repeat(" ", 63-(10+len(m.header))%64) + "\n"
		w.Write(append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8)))
		w.Write([]byte(h))
		w.Write(m.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// readJSON decodes a results file.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
