package onnx_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// ONNX Runtime for the tests: the library at EABS_ORT_LIB, else the project's copy;
// tests that need it skip when it is absent.

var (
	ortOnce sync.Once
	ortErr  error
)

func ortLibrary() string {
	if p := os.Getenv("EABS_ORT_LIB"); p != "" {
		return p
	}
	return filepath.Join("..", "third_party", "onnxruntime", "libonnxruntime.so")
}

func needORT(t testing.TB) {
	t.Helper()
	lib := ortLibrary()
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("ONNX Runtime library not found (%v); set EABS_ORT_LIB", err)
	}
	ortOnce.Do(func() {
		ort.SetSharedLibraryPath(lib)
		ortErr = ort.InitializeEnvironment()
	})
	if ortErr != nil {
		t.Fatalf("initialise ONNX Runtime from %s: %v", lib, ortErr)
	}
}

// feed is one named float32 input.
type feed struct {
	name  string
	shape []int64
	data  []float32
}

// session is an ONNX Runtime session on one file, with fixed input and output names.
type session struct {
	s        *ort.DynamicAdvancedSession
	in, outs []string
}

func openSession(t testing.TB, path string, inputs, outputs []string, threads int) *session {
	t.Helper()
	needORT(t)
	opts, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		t.Fatal(err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewDynamicAdvancedSession(path, inputs, outputs, opts)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Destroy() })
	return &session{s: s, in: inputs, outs: outputs}
}

// run feeds the inputs (in the session's input order) and returns every output's data
// and shape.
func (s *session) run(t testing.TB, feeds ...feed) (data [][]float32, shapes [][]int64) {
	t.Helper()
	ins := make([]ort.Value, len(feeds))
	for i, f := range feeds {
		if f.name != s.in[i] {
			t.Fatalf("feed %d is %q, session wants %q", i, f.name, s.in[i])
		}
		tensor, err := ort.NewTensor(ort.NewShape(f.shape...), f.data)
		if err != nil {
			t.Fatalf("input %s: %v", f.name, err)
		}
		defer tensor.Destroy()
		ins[i] = tensor
	}
	outs := make([]ort.Value, len(s.outs))
	if err := s.s.Run(ins, outs); err != nil {
		t.Fatalf("run: %v", err)
	}
	for i, o := range outs {
		tensor, ok := o.(*ort.Tensor[float32])
		if !ok {
			t.Fatalf("output %s is %T, want float32 tensor", s.outs[i], o)
		}
		data = append(data, append([]float32(nil), tensor.GetData()...))
		shapes = append(shapes, []int64(tensor.GetShape()))
		o.Destroy()
	}
	return data, shapes
}

// runFile opens a session, runs it once and closes it.
func runFile(t testing.TB, path string, outputs []string, feeds ...feed) ([][]float32, [][]int64) {
	t.Helper()
	names := make([]string, len(feeds))
	for i, f := range feeds {
		names[i] = f.name
	}
	return openSession(t, path, names, outputs, 1).run(t, feeds...)
}
