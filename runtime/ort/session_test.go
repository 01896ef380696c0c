package ort

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/eabs/eabs/internal/testenv"
)

// initORT initialises ONNX Runtime from LibraryPath(""), or skips the test with the
// lookup error when the library is not installed (fails it under
// EABS_REQUIRE_RUNTIMES=1, see internal/testenv).
func initORT(tb testing.TB) {
	tb.Helper()
	lib, err := LibraryPath("")
	if err != nil {
		testenv.SkipOrFail(tb, "ONNX Runtime: %v", err)
	}
	if err := Init(lib); err != nil {
		tb.Fatal(err)
	}
}

// openModel opens testdata/name with one intra-op thread (unless opts says otherwise)
// and closes it when the test ends.
func openModel(tb testing.TB, name string, opts Options) *Session {
	tb.Helper()
	initORT(tb)
	if opts.IntraOpThreads == 0 {
		opts.IntraOpThreads = 1
	}
	s, err := Open(filepath.Join("testdata", name), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

func randFloats(rnd *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rnd.NormFloat64())
	}
	return x
}

func equalWithinAbsOrRel(a, b, tol float64) bool {
	d := math.Abs(a - b)
	return d <= tol || d <= tol*math.Max(math.Abs(a), math.Abs(b))
}

// checkTensor compares got with a want shape and float64 values.
func checkTensor(t *testing.T, name string, got Tensor, shape []int64, want []float64, tol float64) {
	t.Helper()
	if !slices.Equal(got.Shape, shape) {
		t.Fatalf("%s shape = %v, want %v", name, got.Shape, shape)
	}
	if len(got.Data) != len(want) {
		t.Fatalf("%s has %d float32 values, want %d", name, len(got.Data), len(want))
	}
	bad := 0
	for i := range want {
		if !equalWithinAbsOrRel(float64(got.Data[i]), want[i], tol) {
			if bad++; bad <= 5 {
				t.Errorf("%s[%d] = %v, want %v (tol %g)", name, i, got.Data[i], want[i], tol)
			}
		}
	}
}

func TestInitVersion(t *testing.T) {
	initORT(t)
	lib, _ := LibraryPath("")
	if err := Init(lib); err != nil {
		t.Errorf("second Init(%q) = %v, want nil", lib, err)
	}
	if err := Init(""); err != nil {
		t.Errorf("Init(\"\") after Init(%q) = %v, want nil", lib, err)
	}
	other := filepath.Join(t.TempDir(), "libonnxruntime.so")
	var e *Error
	if err := Init(other); !errors.As(err, &e) || !strings.Contains(err.Error(), "already initialised with "+lib) {
		t.Errorf("Init(%q) after Init(%q) = %v, want an *Error saying it is already initialised", other, lib, err)
	}
	if v := Version(); !strings.HasPrefix(v, "1.24.") {
		t.Errorf("Version() = %q, want 1.24.x", v)
	}
}

func TestRunAddMul(t *testing.T) {
	s := openModel(t, "add_mul.onnx", Options{})
	if got, want := s.InputNames(), []string{"x", "y"}; !slices.Equal(got, want) {
		t.Errorf("InputNames() = %q, want %q", got, want)
	}
	if got, want := s.OutputNames(), []string{"sum", "prod"}; !slices.Equal(got, want) {
		t.Errorf("OutputNames() = %q, want %q", got, want)
	}
	rnd := rand.New(rand.NewPCG(1, 1))
	for _, batch := range []int64{1, 7, 1} {
		const f = 4
		x, y := randFloats(rnd, int(batch*f)), randFloats(rnd, int(batch*f))
		xCopy := slices.Clone(x)
		out, err := s.Run([]Tensor{{Shape: []int64{batch, f}, Data: x}, {Shape: []int64{batch, f}, Data: y}})
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		if len(out) != 2 {
			t.Fatalf("batch %d: Run returned %d outputs, want 2", batch, len(out))
		}
		sum, prod := make([]float64, len(x)), make([]float64, len(x))
		for i := range x {
			// float32 arithmetic, as ORT does it: one correctly rounded operation.
			sum[i], prod[i] = float64(x[i]+y[i]), float64(x[i]*y[i])
		}
		checkTensor(t, fmt.Sprintf("batch %d sum", batch), out[0], []int64{batch, f}, sum, 0)
		checkTensor(t, fmt.Sprintf("batch %d prod", batch), out[1], []int64{batch, f}, prod, 0)
		if !slices.Equal(x, xCopy) {
			t.Errorf("batch %d: Run modified its input", batch)
		}
	}
}

// TestRunSelectNames reorders the inputs and keeps one output.
func TestRunSelectNames(t *testing.T) {
	s := openModel(t, "add_mul.onnx", Options{InputNames: []string{"y", "x"}, OutputNames: []string{"prod"}})
	out, err := s.Run([]Tensor{
		{Shape: []int64{1, 2}, Data: []float32{3, 4}},
		{Shape: []int64{1, 2}, Data: []float32{5, 6}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || !slices.Equal(out[0].Data, []float32{15, 24}) {
		t.Errorf("Run = %v, want one output [15 24]", out)
	}
}

// conv2d is the oracle for conv.onnx's first node: Conv 1->2 channels, 3x3, pad 1, with
// the weights of gen_models.py.
func conv2d(x []float32, n int) []float64 {
	const h, w = 4, 4
	bias := []float64{0.5, -0.25}
	out := make([]float64, n*2*h*w)
	for b := range n {
		for o := range 2 {
			for i := range h {
				for j := range w {
					acc := bias[o]
					for kh := range 3 {
						for kw := range 3 {
							ii, jj := i+kh-1, j+kw-1
							if ii < 0 || ii >= h || jj < 0 || jj >= w {
								continue
							}
							wt := 0.1 * float64(o+1) * float64(3*kh+kw-4)
							acc += wt * float64(x[(b*h+ii)*w+jj])
						}
					}
					out[((b*2+o)*h+i)*w+j] = acc
				}
			}
		}
	}
	return out
}

// convTranspose2d is the oracle for conv.onnx's second node: ConvTranspose 2->1
// channels, 2x2, stride 2. With stride = kernel, every output pixel gets exactly one
// term per input channel.
func convTranspose2d(f []float64, n int) []float64 {
	const h, w = 4, 4
	out := make([]float64, n*8*8)
	for b := range n {
		for i := range 8 {
			for j := range 8 {
				acc := 0.125
				for c := range 2 {
					wt := 0.25 * float64(c+1) * float64(2*(i%2)+j%2+1)
					if c == 1 {
						wt = -wt
					}
					acc += wt * f[((b*2+c)*h+i/2)*w+j/2]
				}
				out[(b*8+i)*8+j] = acc
			}
		}
	}
	return out
}

func TestRunConv(t *testing.T) {
	s := openModel(t, "conv.onnx", Options{})
	rnd := rand.New(rand.NewPCG(2, 1))
	for _, batch := range []int{1, 7} {
		x := randFloats(rnd, batch*16)
		out, err := s.Run([]Tensor{{Shape: []int64{int64(batch), 1, 4, 4}, Data: x}})
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		feat := conv2d(x, batch)
		const tol = 1e-5 // float32 accumulation against a float64 oracle
		checkTensor(t, fmt.Sprintf("batch %d features", batch), out[0], []int64{int64(batch), 2, 4, 4}, feat, tol)
		checkTensor(t, fmt.Sprintf("batch %d recon", batch), out[1], []int64{int64(batch), 1, 8, 8},
			convTranspose2d(feat, batch), tol)
	}
}

func TestRunInt64(t *testing.T) {
	s := openModel(t, "typed.onnx", Options{})
	x := []float32{
		1, 5, 2,
		-1, -3, -2,
		0, 0, 9,
	}
	out, err := s.Run([]Tensor{{Shape: []int64{3, 3}, Data: x}, {Shape: []int64{3}, Int64: []int64{2, 0, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0]; !slices.Equal(got.Shape, []int64{3, 1}) || !slices.Equal(got.Data, []float32{2, -1, 0}) || got.Int64 != nil {
		t.Errorf("picked = %+v, want shape [3 1], Data [2 -1 0]", got)
	}
	if got := out[1]; !slices.Equal(got.Shape, []int64{3}) || !slices.Equal(got.Int64, []int64{1, 0, 2}) || got.Data != nil {
		t.Errorf("argmax = %+v, want shape [3], Int64 [1 0 2]", got)
	}
}

func TestMetadata(t *testing.T) {
	s := openModel(t, "add_mul.onnx", Options{})
	got, err := s.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"eabs.kind":  "test",
		"eabs.model": "add_mul",
		MetaProducer: "eabs runtime/ort testdata/gen_models.py",
		MetaGraph:    "add_mul",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Metadata() = %v, want %v", got, want)
	}
}

// wantError checks that err is an *Error with the given Op whose message names path and
// contains each of parts.
func wantError(t *testing.T, what string, err error, op, path string, parts ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: error = %v (%T), want an *Error", what, err, err)
		return
	}
	if e.Op != op {
		t.Errorf("%s: Op = %q, want %q (%v)", what, e.Op, op, err)
	}
	for _, part := range append([]string{path}, parts...) {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("%s: error %q does not contain %q", what, err, part)
		}
	}
}

func TestRunBadInputs(t *testing.T) {
	addMul := openModel(t, "add_mul.onnx", Options{})
	conv := openModel(t, "conv.onnx", Options{})
	typed := openModel(t, "typed.onnx", Options{})
	f := func(shape ...int64) Tensor {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		return Tensor{Shape: shape, Data: make([]float32, n)}
	}
	for _, test := range []struct {
		name   string
		s      *Session
		inputs []Tensor
		want   string
	}{
		{"no inputs", addMul, nil, "got 0 inputs, want 2 (x, y)"},
		{"one input", addMul, []Tensor{f(1, 4)}, "got 1 inputs, want 2"},
		{"three inputs", addMul, []Tensor{f(1, 4), f(1, 4), f(1, 4)}, "got 3 inputs, want 2"},
		{"short data", addMul, []Tensor{f(1, 4), {Shape: []int64{2, 4}, Data: make([]float32, 7)}},
			`input "y": shape [2 4] has 8 elements, data has 7`},
		{"long data", addMul, []Tensor{{Shape: []int64{1, 4}, Data: make([]float32, 5)}, f(1, 4)},
			`input "x": shape [1 4] has 4 elements, data has 5`},
		{"rank", conv, []Tensor{f(16)}, "got shape [16], model wants rank 4 [?,1,4,4]"},
		{"fixed dimension", conv, []Tensor{f(1, 1, 5, 4)}, "model wants [?,1,4,4]"},
		{"negative dimension", addMul, []Tensor{f(1, 4), {Shape: []int64{-1, 4}}}, "negative dimension"},
		{"scalar", addMul, []Tensor{f(1, 4), {Shape: []int64{}, Data: []float32{1}}}, "rank-0"},
		{"int64 for float", addMul, []Tensor{f(1, 4), {Shape: []int64{1, 4}, Int64: make([]int64, 4)}},
			`input "y": got int64 elements, model wants float32`},
		{"float for int64", typed, []Tensor{f(1, 3), f(1)}, `input "idx": got float32 elements, model wants int64`},
		{"both slices", typed, []Tensor{f(1, 3), {Shape: []int64{1}, Data: []float32{0}, Int64: []int64{0}}},
			"more than one of Data, Int64 and Float64 is set"},
		{"float64 for float", addMul, []Tensor{f(1, 4), {Shape: []int64{1, 4}, Float64: make([]float64, 4)}},
			`input "y": got float64 elements, model wants float32`},
		// Passes the checks above; ORT itself rejects it.
		{"batch mismatch", addMul, []Tensor{f(2, 4), f(3, 4)}, "broadcast"},
		{"index out of range", typed, []Tensor{f(1, 3), {Shape: []int64{1}, Int64: []int64{7}}}, "GatherElements"},
	} {
		t.Run(test.name, func(t *testing.T) {
			out, err := test.s.Run(test.inputs)
			if out != nil {
				t.Errorf("Run returned outputs %v with error %v", out, err)
			}
			wantError(t, "Run", err, "run", test.s.Path(), test.want)
			t.Log(err)
		})
	}
}

func TestOpenBad(t *testing.T) {
	initORT(t)
	good, err := os.ReadFile(filepath.Join("testdata", "add_mul.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rnd := rand.New(rand.NewPCG(3, 1))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	for _, test := range []struct {
		name, path string
		opts       Options
		want       string
	}{
		{"missing", filepath.Join(dir, "missing.onnx"), Options{}, "no such file"},
		{"directory", dir, Options{}, "is a directory"},
		{"empty", write("empty.onnx", nil), Options{}, ""},
		{"truncated", write("truncated.onnx", good[:len(good)/2]), Options{}, ""},
		{"random bytes", write("random.onnx", random), Options{}, ""},
		{"text", write("text.onnx", []byte("not a model\n")), Options{}, ""},
		{"unknown input", filepath.Join("testdata", "add_mul.onnx"), Options{InputNames: []string{"x", "z"}},
			`model has no input "z" (it has x, y)`},
		{"unknown output", filepath.Join("testdata", "add_mul.onnx"), Options{OutputNames: []string{"diff"}},
			`model has no output "diff" (it has sum, prod)`},
		{"repeated input", filepath.Join("testdata", "add_mul.onnx"), Options{InputNames: []string{"x", "x"}},
			`input "x" named twice`},
		{"negative threads", filepath.Join("testdata", "add_mul.onnx"), Options{IntraOpThreads: -1},
			"IntraOpThreads = -1"},
	} {
		t.Run(test.name, func(t *testing.T) {
			s, err := Open(test.path, test.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", test.path)
			}
			wantError(t, "Open", err, "open", test.path, test.want)
			t.Log(err)
		})
	}
}

func TestClose(t *testing.T) {
	initORT(t)
	s, err := Open(filepath.Join("testdata", "add_mul.onnx"), Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close #%d = %v, want nil", i+1, err)
		}
	}
	in := []Tensor{{Shape: []int64{1, 1}, Data: []float32{1}}, {Shape: []int64{1, 1}, Data: []float32{2}}}
	_, err = s.Run(in)
	wantError(t, "Run after Close", err, "run", s.Path(), "closed")
	_, err = s.Metadata()
	wantError(t, "Metadata after Close", err, "metadata", s.Path(), "closed")
}

// TestRunConcurrent shares one session between goroutines running different batch
// sizes. Run it with -race as well.
func TestRunConcurrent(t *testing.T) {
	s := openModel(t, "conv.onnx", Options{IntraOpThreads: 2})
	const goroutines, runs = 2, 100
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(4, uint64(g)))
			for i := range runs {
				batch := 1 + (g*runs+i)%9
				x := randFloats(rnd, batch*16)
				out, err := s.Run([]Tensor{{Shape: []int64{int64(batch), 1, 4, 4}, Data: x}})
				if err != nil {
					errs[g] = err
					return
				}
				want := convTranspose2d(conv2d(x, batch), batch)
				for k, v := range out[1].Data {
					if !equalWithinAbsOrRel(float64(v), want[k], 1e-5) {
						errs[g] = fmt.Errorf("goroutine %d run %d batch %d: recon[%d] = %v, want %v", g, i, batch, k, v, want[k])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// rss returns the resident set size of this process in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("cannot measure RSS: %v", err)
	}
	fields := strings.Fields(string(b))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatalf("parsing /proc/self/statm %q: %v", b, err)
	}
	return pages * int64(os.Getpagesize())
}

// TestRunNoLeak checks that RSS does not grow over 10000 runs. The tensors are small
// because the ORT values this package creates and destroys are small: leaving the two
// input (or the two output) values of each run undestroyed adds about 5 MiB per 10000
// runs, while the RSS of a correct loop moves by less than 1 MiB.
func TestRunNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("10000 runs")
	}
	s := openModel(t, "add_mul.onnx", Options{})
	const batch, f = 8, 16
	x := randFloats(rand.New(rand.NewPCG(5, 1)), batch*f)
	in := []Tensor{{Shape: []int64{batch, f}, Data: x}, {Shape: []int64{batch, f}, Data: x}}
	run := func(n int) {
		for range n {
			if _, err := s.Run(in); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		debug.FreeOSMemory()
	}
	run(2000) // warm up allocator arenas and the thread pool
	before := rss(t)
	run(10000)
	after := rss(t)
	t.Logf("RSS %.2f MiB -> %.2f MiB after 10000 runs", float64(before)/(1<<20), float64(after)/(1<<20))
	if growth := after - before; growth > 2<<20 {
		t.Errorf("RSS grew by %.2f MiB over 10000 runs, want < 2 MiB", float64(growth)/(1<<20))
	}
}

// benchRun measures Run on testdata/model with inputs of the given shapes.
func benchRun(b *testing.B, model string, shapes ...[]int64) {
	s := openModel(b, model, Options{IntraOpThreads: 1})
	rnd := rand.New(rand.NewPCG(12345678, 1))
	in := make([]Tensor, len(shapes))
	for i, shape := range shapes {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		in[i] = Tensor{Shape: shape, Data: randFloats(rnd, int(n))}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(shapes[0][0])*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkRunSmall is the per-call overhead: two 1x4 inputs, two 1x4 outputs.
func BenchmarkRunSmall(b *testing.B) { benchRun(b, "add_mul.onnx", []int64{1, 4}, []int64{1, 4}) }

func BenchmarkRunConv64(b *testing.B) { benchRun(b, "conv.onnx", []int64{64, 1, 4, 4}) }

// TestProfile checks that ProfilePrefix makes ORT write an operator trace on Close that
// names the model's operators.
func TestProfile(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "prof")
	s := openModel(t, "conv.onnx", Options{ProfilePrefix: prefix})
	x := make([]float32, 16)
	if _, err := s.Run([]Tensor{{Shape: []int64{1, 1, 4, 4}, Data: x}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(prefix + "*.json")
	if len(files) != 1 {
		t.Fatalf("%d profiles written, want 1", len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var events []struct {
		Cat  string `json:"cat"`
		Args struct {
			Op string `json:"op_name"`
		} `json:"args"`
	}
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatalf("the profile is not a JSON trace: %v", err)
	}
	ops := map[string]bool{}
	for _, e := range events {
		if e.Cat == "Node" {
			ops[e.Args.Op] = true
		}
	}
	if !ops["ConvTranspose"] {
		t.Errorf("the profile has no ConvTranspose node (operators: %v)", ops)
	}
}
