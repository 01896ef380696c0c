package ort

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// Options configures Open.
type Options struct {
	// IntraOpThreads is the size of the thread pool ORT uses inside one operator.
	// 0 means runtime.NumCPU(). Inter-op parallelism is always 1 (sequential graphs).
	IntraOpThreads int
	// InputNames and OutputNames select and order the model's inputs and outputs
	// as Run takes and returns them. Empty means all of them, in the model's order.
	InputNames, OutputNames []string
	// ProfilePrefix, when set, makes ORT record every operator's time; the JSON
	// trace (Chrome trace format) is written to PREFIX_DATE.json when the session
	// closes. For finding where inference time goes (tools/ortprofile).
	ProfilePrefix string
}

// Tensor is a dense row-major tensor held in Go memory. Exactly one of Data, Int64 and
// Float64 holds the elements; its length is the product of Shape. Rank-0 (scalar)
// tensors are not supported.
type Tensor struct {
	Shape   []int64
	Data    []float32 // elements of a float32 tensor
	Int64   []int64   // elements of an int64 tensor; Data is nil
	Float64 []float64 // elements of a float64 tensor (gradient graphs of double models); Data is nil
}

// elemType names the element types Tensor can hold.
type elemType int

const (
	typeOther elemType = iota
	typeFloat32
	typeInt64
	typeFloat64
)

func (t elemType) String() string {
	switch t {
	case typeFloat32:
		return "float32"
	case typeInt64:
		return "int64"
	case typeFloat64:
		return "float64"
	}
	return "unsupported type"
}

// port describes one model input or output as ORT reports it.
type port struct {
	name string
	typ  elemType
	ort  onnxruntime.TensorElementDataType
	dims []int64 // -1 (or 0) for a symbolic dimension
}

// Session is a loaded model. Its methods may be called from several goroutines at
// once; Close waits for running calls to finish.
type Session struct {
	path    string
	inputs  []port
	outputs []port

	mu sync.RWMutex // Run and Metadata hold it for reading, Close for writing
	s  *onnxruntime.DynamicAdvancedSession
}

// Open loads the ONNX model at path. Init must have succeeded. A missing, corrupt or
// unsupported model, or a name in opts that the model lacks, gives an *Error with Op
// "open".
func Open(path string, opts Options) (*Session, error) {
	if err := initError("open", path); err != nil {
		return nil, err
	}
	// ORT would report a missing file as a failed protobuf parse; say what happened.
	if fi, err := os.Stat(path); err != nil {
		return nil, &Error{Op: "open", Path: path, Msg: err.Error()}
	} else if fi.IsDir() {
		return nil, &Error{Op: "open", Path: path, Msg: "is a directory, not an ONNX model"}
	} else if fi.Size() == 0 {
		return nil, &Error{Op: "open", Path: path, Msg: "is empty, not an ONNX model"}
	}
	return open(path, nil, opts)
}

// OpenData is Open on a model held in memory (one written by onnx/adapt or onnx/grad,
// say); name stands for its path in errors and Path.
func OpenData(name string, model []byte, opts Options) (*Session, error) {
	if err := initError("open", name); err != nil {
		return nil, err
	}
	if len(model) == 0 {
		return nil, &Error{Op: "open", Path: name, Msg: "is empty, not an ONNX model"}
	}
	return open(name, model, opts)
}

// open loads the model from data, or from path when data is nil.
func open(path string, data []byte, opts Options) (*Session, error) {
	fail := func(format string, args ...any) error {
		return &Error{Op: "open", Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	threads := opts.IntraOpThreads
	if threads < 0 {
		return nil, fail("IntraOpThreads = %d, want >= 0", threads)
	}
	if threads == 0 {
		threads = runtime.NumCPU()
	}

	so, err := onnxruntime.NewSessionOptions()
	if err != nil {
		return nil, fail("creating session options: %v", err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return nil, fail("setting %d intra-op threads: %v", threads, err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fail("setting inter-op threads: %v", err)
	}
	if opts.ProfilePrefix != "" {
		if err := so.EnableProfiling(opts.ProfilePrefix); err != nil {
			return nil, fail("enabling profiling: %v", err)
		}
	}

	// onnxruntime_go has no way to ask a live session for its inputs, so this loads
	// the model once more; models in this project are small.
	var ins, outs []onnxruntime.InputOutputInfo
	if data != nil {
		ins, outs, err = onnxruntime.GetInputOutputInfoWithONNXData(data)
	} else {
		ins, outs, err = onnxruntime.GetInputOutputInfoWithOptions(path, so)
	}
	if err != nil {
		return nil, fail("%s", ortMessage(err))
	}
	sess := &Session{path: path}
	if sess.inputs, err = selectPorts("input", ins, opts.InputNames); err != nil {
		return nil, fail("%v", err)
	}
	if sess.outputs, err = selectPorts("output", outs, opts.OutputNames); err != nil {
		return nil, fail("%v", err)
	}
	if data != nil {
		sess.s, err = onnxruntime.NewDynamicAdvancedSessionWithONNXData(data, portNames(sess.inputs), portNames(sess.outputs), so)
	} else {
		sess.s, err = onnxruntime.NewDynamicAdvancedSession(path, portNames(sess.inputs), portNames(sess.outputs), so)
	}
	if err != nil {
		return nil, fail("%s", ortMessage(err))
	}
	return sess, nil
}

// selectPorts returns the ports called names, in that order, or all of info if names
// is empty.
func selectPorts(kind string, info []onnxruntime.InputOutputInfo, names []string) ([]port, error) {
	if len(info) == 0 {
		return nil, fmt.Errorf("model has no %ss", kind)
	}
	all := make([]port, len(info))
	for i, in := range info {
		p := port{name: in.Name, ort: in.DataType, dims: slices.Clone([]int64(in.Dimensions))}
		switch in.DataType {
		case onnxruntime.TensorElementDataTypeFloat:
			p.typ = typeFloat32
		case onnxruntime.TensorElementDataTypeInt64:
			p.typ = typeInt64
		case onnxruntime.TensorElementDataTypeDouble:
			p.typ = typeFloat64
		}
		if in.OrtValueType != onnxruntime.ONNXTypeTensor {
			p.typ = typeOther
		}
		all[i] = p
	}
	if len(names) == 0 {
		return all, nil
	}
	var ports []port
	for _, name := range names {
		i := slices.IndexFunc(all, func(p port) bool { return p.name == name })
		if i < 0 {
			return nil, fmt.Errorf("model has no %s %q (it has %s)", kind, name, strings.Join(portNames(all), ", "))
		}
		if slices.ContainsFunc(ports, func(p port) bool { return p.name == name }) {
			return nil, fmt.Errorf("%s %q named twice", kind, name)
		}
		ports = append(ports, all[i])
	}
	return ports, nil
}

func portNames(ports []port) []string {
	names := make([]string, len(ports))
	for i, p := range ports {
		names[i] = p.name
	}
	return names
}

// ortMessage strips onnxruntime_go's "Error creating C session from file: " style
// prefixes, which describe its internals rather than the problem.
func ortMessage(err error) string {
	msg := err.Error()
	for _, prefix := range []string{
		"Error loading temporary session: ",
		"Error creating temporary session: ",
		"Error creating C session from file: ",
		"Error creating C session: ",
		"Error running network: ",
	} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	return msg
}

// InputNames returns the names of the inputs Run takes, in order.
func (s *Session) InputNames() []string { return portNames(s.inputs) }

// OutputNames returns the names of the outputs Run returns, in order.
func (s *Session) OutputNames() []string { return portNames(s.outputs) }

// Path returns the model file the session was opened from.
func (s *Session) Path() string { return s.path }

// minRows is the smallest batch RunRows hands ONNX Runtime. Its MLAS kernels compute each
// row of a batched matrix product with the same instructions wherever the row sits,
// except in a product of one row, which goes to a matrix-vector kernel that sums in
// another order (runtimetest's batch-invariance test finds it). Padding a batch of one
// keeps a sample's outputs the same bits in every batch it is passed in.
const minRows = 2

// RunRows is Run for float32 inputs and outputs whose first dimension is the same batch
// of n samples: a batch smaller than minRows is padded with zero samples, and the
// outputs are trimmed back to n.
func (s *Session) RunRows(n int, inputs []Tensor) ([]Tensor, error) {
	if n >= minRows {
		return s.Run(inputs)
	}
	padded := make([]Tensor, len(inputs))
	for i, t := range inputs {
		if len(t.Shape) == 0 || t.Shape[0] != int64(n) || t.Data == nil {
			return nil, s.errorf("run", "input %d has shape %v, want a float32 batch of %d first", i, t.Shape, n)
		}
		sh := slices.Clone(t.Shape)
		sh[0] = minRows
		d := make([]float32, len(t.Data)/max(n, 1)*minRows)
		copy(d, t.Data)
		padded[i] = Tensor{Shape: sh, Data: d}
	}
	out, err := s.Run(padded)
	if err != nil {
		return nil, err
	}
	for i, t := range out {
		if len(t.Shape) == 0 || t.Shape[0] != minRows {
			return nil, s.errorf("run", "output %d has shape %v for a batch of %d", i, t.Shape, minRows)
		}
		t.Shape[0] = int64(n)
		out[i].Data = t.Data[:len(t.Data)/minRows*n]
	}
	return out, nil
}

// Run runs the model on inputs, one per input name in order, and returns the outputs in
// the order of OutputNames. The input slices are read, not kept; the returned slices
// belong to the caller. Dimensions the model leaves symbolic (the batch size) may differ
// from call to call.
//
// Inputs that do not match the model (count, element type, rank, a fixed dimension, or
// a data length that differs from the shape) give an *Error with Op "run" before ORT
// sees them; failures inside ORT give one too.
func (s *Session) Run(inputs []Tensor) ([]Tensor, error) {
	if err := s.check(inputs); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.s == nil {
		return nil, s.errorf("run", "session is closed")
	}

	in := make([]onnxruntime.Value, len(inputs))
	defer destroyAll(in)
	for i, t := range inputs {
		v, err := newValue(t)
		if err != nil {
			return nil, s.errorf("run", "input %q: %v", s.inputs[i].name, err)
		}
		in[i] = v
	}
	// Nil outputs are allocated by ORT; onnxruntime_go copies each into a Go slice
	// wrapped in a new ORT value, which must be destroyed after taking the slice.
	out := make([]onnxruntime.Value, len(s.outputs))
	defer destroyAll(out)
	if err := s.s.Run(in, out); err != nil {
		return nil, s.errorf("run", "%s", ortMessage(err))
	}
	res := make([]Tensor, len(out))
	for i, v := range out {
		t := Tensor{Shape: slices.Clone([]int64(v.GetShape()))}
		switch v := v.(type) {
		case *onnxruntime.Tensor[float32]:
			t.Data = v.GetData()
		case *onnxruntime.Tensor[int64]:
			t.Int64 = v.GetData()
		case *onnxruntime.Tensor[float64]:
			t.Float64 = v.GetData()
		default:
			return nil, s.errorf("run", "output %q has element type %s; only float32, float64 and int64 are supported",
				s.outputs[i].name, onnxruntime.TensorElementDataType(v.DataType()))
		}
		res[i] = t
	}
	return res, nil
}

// check validates inputs against the model without calling ORT.
func (s *Session) check(inputs []Tensor) error {
	if len(inputs) != len(s.inputs) {
		return s.errorf("run", "got %d inputs, want %d (%s)", len(inputs), len(s.inputs),
			strings.Join(s.InputNames(), ", "))
	}
	for i, t := range inputs {
		p := s.inputs[i]
		fail := func(format string, args ...any) error {
			return s.errorf("run", "input %q: %s", p.name, fmt.Sprintf(format, args...))
		}
		typ, n, set := typeFloat32, len(t.Data), 0
		if t.Data != nil {
			set++
		}
		if t.Int64 != nil {
			typ, n = typeInt64, len(t.Int64)
			set++
		}
		if t.Float64 != nil {
			typ, n = typeFloat64, len(t.Float64)
			set++
		}
		if set > 1 {
			return fail("more than one of Data, Int64 and Float64 is set")
		}
		if p.typ == typeOther {
			return fail("model wants element type %v, which Tensor cannot hold", p.ort)
		}
		if typ != p.typ {
			return fail("got %v elements, model wants %v", typ, p.typ)
		}
		if len(t.Shape) == 0 {
			return fail("rank-0 (scalar) tensors are not supported")
		}
		if p.dims != nil && len(t.Shape) != len(p.dims) {
			return fail("got shape %v, model wants rank %d %s", t.Shape, len(p.dims), dimString(p.dims))
		}
		size := int64(1)
		for d, v := range t.Shape {
			if v < 0 {
				return fail("negative dimension in shape %v", t.Shape)
			}
			if p.dims != nil && p.dims[d] > 0 && p.dims[d] != v {
				return fail("got shape %v, model wants %s", t.Shape, dimString(p.dims))
			}
			if v != 0 && size > (1<<62)/v {
				return fail("shape %v is too large", t.Shape)
			}
			size *= v
		}
		if int64(n) != size {
			return fail("shape %v has %d elements, data has %d", t.Shape, size, n)
		}
	}
	return nil
}

// dimString formats model dimensions with "?" for symbolic ones: [?,1,28,28].
func dimString(dims []int64) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		if d > 0 {
			parts[i] = fmt.Sprint(d)
		} else {
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// newValue wraps t's Go slice, without copying, in an ORT value.
func newValue(t Tensor) (onnxruntime.Value, error) {
	// Return a nil interface, not a typed nil pointer, on error: destroyAll skips it.
	if t.Int64 != nil {
		v, err := onnxruntime.NewTensor(onnxruntime.Shape(t.Shape), t.Int64)
		if err != nil {
			return nil, err
		}
		return v, nil
	}
	if t.Float64 != nil {
		v, err := onnxruntime.NewTensor(onnxruntime.Shape(t.Shape), t.Float64)
		if err != nil {
			return nil, err
		}
		return v, nil
	}
	v, err := onnxruntime.NewTensor(onnxruntime.Shape(t.Shape), t.Data)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func destroyAll(values []onnxruntime.Value) {
	for _, v := range values {
		if v != nil {
			v.Destroy()
		}
	}
}

func (s *Session) errorf(op, format string, args ...any) error {
	return &Error{Op: op, Path: s.path, Msg: fmt.Sprintf(format, args...)}
}

// Metadata keys that Metadata adds to the model's custom metadata, unless the custom
// metadata already uses them.
const (
	MetaProducer = "onnx.producer_name"
	MetaGraph    = "onnx.graph_name"
)

// Metadata returns the model's custom metadata (ModelProto.metadata_props) plus its
// producer and graph names under MetaProducer and MetaGraph, when not empty. The map is
// a fresh copy.
func (s *Session) Metadata() (map[string]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.s == nil {
		return nil, s.errorf("metadata", "session is closed")
	}
	md, err := s.s.GetModelMetadata()
	if err != nil {
		return nil, s.errorf("metadata", "%v", err)
	}
	defer md.Destroy()
	keys, err := md.GetCustomMetadataMapKeys()
	if err != nil {
		return nil, s.errorf("metadata", "listing keys: %v", err)
	}
	m := make(map[string]string, len(keys)+2)
	for _, k := range keys {
		v, ok, err := md.LookupCustomMetadataMap(k)
		if err != nil {
			return nil, s.errorf("metadata", "key %q: %v", k, err)
		}
		if ok {
			m[k] = v
		}
	}
	for _, f := range []struct {
		key string
		get func() (string, error)
	}{{MetaProducer, md.GetProducerName}, {MetaGraph, md.GetGraphName}} {
		if _, ok := m[f.key]; ok {
			continue
		}
		v, err := f.get()
		if err != nil {
			return nil, s.errorf("metadata", "%s: %v", f.key, err)
		}
		if v != "" {
			m[f.key] = v
		}
	}
	return m, nil
}

// Close releases the session. It waits for running calls, and later calls return an
// error. Closing twice is harmless.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	if err != nil {
		return s.errorf("close", "%v", err)
	}
	return nil
}
