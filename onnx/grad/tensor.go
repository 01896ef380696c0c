package grad

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// Element types of Tensor.Type: the values of ONNX's TensorProto.DataType.
const (
	Float32 = int32(onnxpb.TensorProto_FLOAT)
	Float64 = int32(onnxpb.TensorProto_DOUBLE)
	Int64   = int32(onnxpb.TensorProto_INT64)
	Bool    = int32(onnxpb.TensorProto_BOOL)
)

// The element types the differentiator handles. Floats are held as float64 whatever
// their width, integers and booleans as int64: constant folding and the reference
// evaluator compute in the widest type, and values are rounded to the declared type
// when they are written back into a graph.
const (
	tFloat  = Float32
	tDouble = Float64
	tInt64  = Int64
	tInt32  = int32(onnxpb.TensorProto_INT32)
	tInt16  = int32(onnxpb.TensorProto_INT16)
	tInt8   = int32(onnxpb.TensorProto_INT8)
	tUint8  = int32(onnxpb.TensorProto_UINT8)
	tBool   = Bool
)

func isFloat(t int32) bool { return t == tFloat || t == tDouble }

func isInt(t int32) bool {
	switch t {
	case tInt64, tInt32, tInt16, tInt8, tUint8, tBool:
		return true
	}
	return false
}

func typeName(t int32) string {
	if n, ok := onnxpb.TensorProto_DataType_name[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", t)
}

// Tensor is a dense row-major tensor with its ONNX element type (Float32, Float64,
// Int64, Bool, or another integer type). F holds the elements of float tensors, I
// those of integer and boolean tensors; the other is nil.
type Tensor struct {
	Type  int32
	Shape []int
	F     []float64
	I     []int64
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func (t *Tensor) len() int {
	if isFloat(t.Type) {
		return len(t.F)
	}
	return len(t.I)
}

// at returns element i as a float64, whatever the type.
func (t *Tensor) at(i int) float64 {
	if isFloat(t.Type) {
		return t.F[i]
	}
	return float64(t.I[i])
}

// ints returns the elements of an integer tensor.
func (t *Tensor) ints() []int64 {
	if isFloat(t.Type) {
		out := make([]int64, len(t.F))
		for i, v := range t.F {
			out[i] = int64(v)
		}
		return out
	}
	return t.I
}

func newTensor(typ int32, shape []int) *Tensor {
	t := &Tensor{Type: typ, Shape: append([]int{}, shape...)}
	if isFloat(typ) {
		t.F = make([]float64, numel(shape))
	} else {
		t.I = make([]int64, numel(shape))
	}
	return t
}

func floatTensor(typ int32, shape []int, data []float64) *Tensor {
	return &Tensor{Type: typ, Shape: append([]int{}, shape...), F: data}
}

func intTensor(shape []int, data []int64) *Tensor {
	return &Tensor{Type: tInt64, Shape: append([]int{}, shape...), I: data}
}

// round rounds the float elements to the precision of the tensor's type, as a runtime
// holding the tensor would.
func (t *Tensor) round() *Tensor {
	if t.Type == tFloat {
		for i, v := range t.F {
			t.F[i] = float64(float32(v))
		}
	}
	return t
}

// castInt wraps v to the range of an integer type, as a cast does.
func castInt(typ int32, v int64) int64 {
	switch typ {
	case tInt32:
		return int64(int32(v))
	case tInt16:
		return int64(int16(v))
	case tInt8:
		return int64(int8(v))
	case tUint8:
		return int64(uint8(v))
	case tBool:
		if v != 0 {
			return 1
		}
		return 0
	}
	return v
}

// decodeTensor reads a TensorProto. Element types other than the floats, integers and
// booleans, and data stored outside the file, are errors.
func decodeTensor(p *onnxpb.TensorProto) (*Tensor, error) {
	shape := make([]int, len(p.Dims))
	n := 1
	for i, d := range p.Dims {
		if d < 0 || d > 1<<31 || int64(n)*d > 1<<31 {
			return nil, fmt.Errorf("tensor %q: bad shape %v", p.Name, p.Dims)
		}
		shape[i] = int(d)
		n *= int(d)
	}
	if p.DataLocation == onnxpb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q is stored in an external file, which is not supported (save the model with its weights inside)", p.Name)
	}
	t := &Tensor{Type: p.DataType, Shape: shape}
	raw := p.RawData
	bad := func(have int) error {
		return fmt.Errorf("tensor %q: %d values of %s for shape %v (corrupt file)", p.Name, have, typeName(p.DataType), shape)
	}
	switch p.DataType {
	case tFloat:
		t.F = make([]float64, n)
		if raw != nil {
			if len(raw) != 4*n {
				return nil, bad(len(raw) / 4)
			}
			for i := range t.F {
				t.F[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
			}
		} else {
			if len(p.FloatData) != n {
				return nil, bad(len(p.FloatData))
			}
			for i, v := range p.FloatData {
				t.F[i] = float64(v)
			}
		}
	case tDouble:
		t.F = make([]float64, n)
		if raw != nil {
			if len(raw) != 8*n {
				return nil, bad(len(raw) / 8)
			}
			for i := range t.F {
				t.F[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else {
			if len(p.DoubleData) != n {
				return nil, bad(len(p.DoubleData))
			}
			copy(t.F, p.DoubleData)
		}
	case tInt64:
		t.I = make([]int64, n)
		if raw != nil {
			if len(raw) != 8*n {
				return nil, bad(len(raw) / 8)
			}
			for i := range t.I {
				t.I[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else {
			if len(p.Int64Data) != n {
				return nil, bad(len(p.Int64Data))
			}
			copy(t.I, p.Int64Data)
		}
	case tInt32, tInt16, tInt8, tUint8, tBool:
		size := map[int32]int{tInt32: 4, tInt16: 2, tInt8: 1, tUint8: 1, tBool: 1}[p.DataType]
		t.I = make([]int64, n)
		if raw != nil {
			if len(raw) != size*n {
				return nil, bad(len(raw) / size)
			}
			for i := range t.I {
				var v int64
				switch size {
				case 4:
					v = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
				case 2:
					v = int64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
				default:
					v = int64(raw[i])
					if p.DataType == tInt8 {
						v = int64(int8(raw[i]))
					}
				}
				t.I[i] = v
			}
		} else {
			// ONNX stores these types in int32_data.
			if len(p.Int32Data) != n {
				return nil, bad(len(p.Int32Data))
			}
			for i, v := range p.Int32Data {
				t.I[i] = castInt(p.DataType, int64(v))
			}
		}
	default:
		return nil, fmt.Errorf("tensor %q has element type %s, which is not supported (floats, integers and booleans are)", p.Name, typeName(p.DataType))
	}
	return t, nil
}

// encodeTensor writes t as a TensorProto called name, in raw little-endian form.
func encodeTensor(name string, t *Tensor) *onnxpb.TensorProto {
	p := &onnxpb.TensorProto{Name: name, DataType: t.Type, Dims: make([]int64, len(t.Shape))}
	for i, d := range t.Shape {
		p.Dims[i] = int64(d)
	}
	n := t.len()
	switch t.Type {
	case tFloat:
		p.RawData = make([]byte, 4*n)
		for i, v := range t.F {
			binary.LittleEndian.PutUint32(p.RawData[4*i:], math.Float32bits(float32(v)))
		}
	case tDouble:
		p.RawData = make([]byte, 8*n)
		for i, v := range t.F {
			binary.LittleEndian.PutUint64(p.RawData[8*i:], math.Float64bits(v))
		}
	case tInt64:
		p.RawData = make([]byte, 8*n)
		for i, v := range t.I {
			binary.LittleEndian.PutUint64(p.RawData[8*i:], uint64(v))
		}
	case tInt32:
		p.RawData = make([]byte, 4*n)
		for i, v := range t.I {
			binary.LittleEndian.PutUint32(p.RawData[4*i:], uint32(int32(v)))
		}
	case tInt16:
		p.RawData = make([]byte, 2*n)
		for i, v := range t.I {
			binary.LittleEndian.PutUint16(p.RawData[2*i:], uint16(int16(v)))
		}
	default: // int8, uint8, bool
		p.RawData = make([]byte, n)
		for i, v := range t.I {
			p.RawData[i] = byte(v)
		}
	}
	return p
}
