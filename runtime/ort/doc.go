// Package ort runs ONNX models with ONNX Runtime 1.24.1 through
// github.com/yalue/onnxruntime_go.
//
// # Why this package exists
//
// onnxruntime_go is a thin layer over the C API, and three of its properties leak into
// every caller that uses it directly:
//
//   - The runtime is a shared library loaded with dlopen. Its path must be set before a
//     process-wide environment is created, the environment can be created only once, and
//     a wrong file or version fails with messages that do not say what to do.
//     [LibraryPath] finds the library (flag, EABS_ORT_LIB, then third_party/onnxruntime
//     of the module or of the installed binary) and [Init] loads it once per process and
//     checks its version.
//   - Every tensor, session and metadata object owns C memory and must be destroyed
//     explicitly, including the outputs ORT allocates during a run. [Session.Run] takes
//     and returns plain Go slices ([Tensor]) and destroys every ORT value before it
//     returns, so callers cannot leak C memory.
//   - Errors are unstructured strings. Every failure is returned as an [*Error] that
//     names the operation and the model or library file.
//
// # Usage
//
//	lib, err := ort.LibraryPath(flagValue) // "" when the flag is unset
//	if err != nil {
//		return err // says to run scripts/setup.sh or set EABS_ORT_LIB
//	}
//	if err := ort.Init(lib); err != nil {
//		return err
//	}
//	s, err := ort.Open("model.onnx", ort.Options{})
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	out, err := s.Run([]ort.Tensor{{Shape: []int64{n, 1, 28, 28}, Data: pixels}})
//
// A [Session] may be used by several goroutines at once. The environment is never torn
// down: it lives until the process exits.
//
// The package exposes concrete types only; packages that consume a runtime define the
// interfaces they need.
package ort
