package onnx_test

import (
	"errors"
	"testing"

	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/runtime/ort"
)

// ONNX Runtime for the tests, through runtime/ort: the library at EABS_ORT_LIB, else
// the project's third_party copy; tests that need it skip when it is absent (fail under
// EABS_REQUIRE_RUNTIMES=1, see internal/testenv).

func needORT(t testing.TB) {
	t.Helper()
	lib, err := ort.LibraryPath("")
	if errors.Is(err, ort.ErrLibraryNotFound) {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := ort.Init(lib); err != nil {
		t.Fatalf("initialise ONNX Runtime: %v", err)
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
	s    *ort.Session
	in   []string
	outs []string
}

func openSession(t testing.TB, path string, inputs, outputs []string, threads int) *session {
	t.Helper()
	needORT(t)
	s, err := ort.Open(path, ort.Options{IntraOpThreads: threads, InputNames: inputs, OutputNames: outputs})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return &session{s: s, in: inputs, outs: outputs}
}

// run feeds the inputs (in the session's input order) and returns every output's data
// and shape.
func (s *session) run(t testing.TB, feeds ...feed) (data [][]float32, shapes [][]int64) {
	t.Helper()
	ins := make([]ort.Tensor, len(feeds))
	for i, f := range feeds {
		if f.name != s.in[i] {
			t.Fatalf("feed %d is %q, session wants %q", i, f.name, s.in[i])
		}
		ins[i] = ort.Tensor{Shape: f.shape, Data: f.data}
	}
	outs, err := s.s.Run(ins)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for i, o := range outs {
		if o.Data == nil {
			t.Fatalf("output %s is not a float32 tensor", s.outs[i])
		}
		data, shapes = append(data, o.Data), append(shapes, o.Shape)
	}
	return data, shapes
}

// runFile opens a session with one intra-op thread, runs it once and closes it.
func runFile(t testing.TB, path string, outputs []string, feeds ...feed) ([][]float32, [][]int64) {
	t.Helper()
	names := make([]string, len(feeds))
	for i, f := range feeds {
		names[i] = f.name
	}
	return openSession(t, path, names, outputs, 1).run(t, feeds...)
}
