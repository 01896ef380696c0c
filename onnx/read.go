package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// FormatError reports a file that is not a readable ONNX model.
type FormatError struct {
	Path string // empty when decoding bytes
	Msg  string
}

func (e *FormatError) Error() string {
	if e.Path == "" {
		return "onnx: " + e.Msg
	}
	return "onnx: " + e.Path + ": " + e.Msg
}

// ModelInfo is what ReadFile reports about an ONNX model: enough to check where it
// came from and to feed it, without the node list.
type ModelInfo struct {
	Path            string // the file read, or empty
	IRVersion       int64
	Opset           int64 // version of the default ("ai.onnx") operator set; 0 if absent
	ProducerName    string
	ProducerVersion string
	GraphName       string
	Metadata        map[string]string
	// Inputs lists the graph inputs that are not initializers (what a caller feeds).
	Inputs       []ValueInfo
	Outputs      []ValueInfo
	Initializers []Tensor
	// OpTypes counts the nodes of each operator type.
	OpTypes map[string]int
}

// ValueInfo describes one graph input or output.
type ValueInfo struct {
	Name     string
	ElemType DataType
	Shape    []Dim // nil when the file gives no shape
}

// Tensor is an initializer. Float32 or Int64 holds the data, by type; both are nil for
// other element types and for data stored outside the file (External).
type Tensor struct {
	Name     string
	Shape    []int
	DataType DataType
	Float32  []float32
	Int64    []int64
	External bool
}

// Input returns the named input or nil.
func (m *ModelInfo) Input(name string) *ValueInfo { return findValue(m.Inputs, name) }

// Output returns the named output or nil.
func (m *ModelInfo) Output(name string) *ValueInfo { return findValue(m.Outputs, name) }

// Initializer returns the named initializer or nil.
func (m *ModelInfo) Initializer(name string) *Tensor {
	for i := range m.Initializers {
		if m.Initializers[i].Name == name {
			return &m.Initializers[i]
		}
	}
	return nil
}

func findValue(vs []ValueInfo, name string) *ValueInfo {
	for i := range vs {
		if vs[i].Name == name {
			return &vs[i]
		}
	}
	return nil
}

// ReadFile reads and checks the ONNX model at path. Errors for unreadable content are
// *FormatError and name the path.
func ReadFile(path string) (*ModelInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	info, err := Decode(b)
	if err != nil {
		if fe, ok := err.(*FormatError); ok {
			fe.Path = path
		}
		return nil, err
	}
	info.Path = path
	return info, nil
}

// Decode reads an ONNX model from its bytes. It returns a *FormatError when the bytes
// are not a well-formed ONNX model: empty, truncated or corrupt protobuf, a protobuf
// that is not an ONNX ModelProto, or initializers whose data does not match their
// shape.
func Decode(b []byte) (*ModelInfo, error) {
	if len(b) == 0 {
		return nil, &FormatError{Msg: "empty file: not an ONNX model"}
	}
	var p onnxpb.ModelProto
	if err := proto.Unmarshal(b, &p); err != nil {
		return nil, &FormatError{Msg: fmt.Sprintf("not an ONNX model, or a truncated or corrupt one (%v)", err)}
	}
	// Arbitrary bytes sometimes parse as a protobuf message; an ONNX model has an IR
	// version, an operator set, a graph, and no fields that ONNX does not define.
	switch {
	case len(p.ProtoReflect().GetUnknown()) > 0:
		return nil, &FormatError{Msg: "not an ONNX model (unknown top-level fields)"}
	case p.IrVersion <= 0 || p.Graph == nil || len(p.OpsetImport) == 0:
		return nil, &FormatError{Msg: fmt.Sprintf("not an ONNX model, or a truncated one (IR version %d, graph present %v, %d operator sets)",
			p.IrVersion, p.Graph != nil, len(p.OpsetImport))}
	}
	info := &ModelInfo{
		IRVersion:       p.IrVersion,
		ProducerName:    p.ProducerName,
		ProducerVersion: p.ProducerVersion,
		GraphName:       p.Graph.Name,
		Metadata:        map[string]string{},
		OpTypes:         map[string]int{},
	}
	for _, o := range p.OpsetImport {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			info.Opset = o.Version
		}
	}
	for _, kv := range p.MetadataProps {
		if _, dup := info.Metadata[kv.Key]; dup {
			return nil, &FormatError{Msg: fmt.Sprintf("metadata key %q appears twice", kv.Key)}
		}
		info.Metadata[kv.Key] = kv.Value
	}
	for _, n := range p.Graph.Node {
		info.OpTypes[n.OpType]++
	}
	inits := map[string]bool{}
	for _, t := range p.Graph.Initializer {
		tensor, err := decodeTensor(t)
		if err != nil {
			return nil, err
		}
		inits[t.Name] = true
		info.Initializers = append(info.Initializers, tensor)
	}
	for _, v := range p.Graph.Input {
		if !inits[v.Name] {
			info.Inputs = append(info.Inputs, decodeValueInfo(v))
		}
	}
	for _, v := range p.Graph.Output {
		info.Outputs = append(info.Outputs, decodeValueInfo(v))
	}
	return info, nil
}

func decodeValueInfo(v *onnxpb.ValueInfoProto) ValueInfo {
	out := ValueInfo{Name: v.Name}
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return out
	}
	out.ElemType = DataType(tt.ElemType)
	if tt.Shape == nil {
		return out
	}
	out.Shape = make([]Dim, len(tt.Shape.Dim))
	for i, d := range tt.Shape.Dim {
		switch v := d.Value.(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			out.Shape[i] = Dim{Size: v.DimValue}
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			out.Shape[i] = Dim{Param: v.DimParam}
		default:
			out.Shape[i] = Dim{Size: -1}
		}
	}
	return out
}

// maxInitializer bounds the element count of one initializer, so a corrupt header
// cannot make the reader allocate without limit.
const maxInitializer = 1 << 30

func decodeTensor(t *onnxpb.TensorProto) (Tensor, error) {
	out := Tensor{Name: t.Name, DataType: DataType(t.DataType), Shape: make([]int, len(t.Dims))}
	bad := func(format string, args ...any) (Tensor, error) {
		return Tensor{}, &FormatError{Msg: fmt.Sprintf("initializer %q: ", t.Name) + fmt.Sprintf(format, args...)}
	}
	n := 1
	for i, d := range t.Dims {
		if d < 0 || d > maxInitializer || int64(n)*d > maxInitializer {
			return bad("bad shape %v", t.Dims)
		}
		out.Shape[i] = int(d)
		n *= int(d)
	}
	if t.DataLocation == onnxpb.TensorProto_EXTERNAL {
		out.External = true
		return out, nil
	}
	switch out.DataType {
	case Float:
		switch {
		case t.RawData != nil:
			if len(t.RawData) != 4*n {
				return bad("%d bytes of float data for shape %v (corrupt file)", len(t.RawData), out.Shape)
			}
			out.Float32 = make([]float32, n)
			for i := range out.Float32 {
				out.Float32[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
			}
		default:
			if len(t.FloatData) != n {
				return bad("%d float values for shape %v (corrupt file)", len(t.FloatData), out.Shape)
			}
			out.Float32 = t.FloatData
		}
		// eabs exports only trained weights and finite constants: a NaN or an
		// infinity is damage, which a runtime would turn into NaN losses silently.
		for i, v := range out.Float32 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return bad("value %d is %v: no trained model holds it (corrupt or tampered file)", i, v)
			}
		}
	case Int64:
		switch {
		case t.RawData != nil:
			if len(t.RawData) != 8*n {
				return bad("%d bytes of int64 data for shape %v (corrupt file)", len(t.RawData), out.Shape)
			}
			out.Int64 = make([]int64, n)
			for i := range out.Int64 {
				out.Int64[i] = int64(binary.LittleEndian.Uint64(t.RawData[8*i:]))
			}
		default:
			if len(t.Int64Data) != n {
				return bad("%d int64 values for shape %v (corrupt file)", len(t.Int64Data), out.Shape)
			}
			out.Int64 = t.Int64Data
		}
	}
	return out, nil
}
