package models

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"

	"github.com/eabs/eabs/internal/atomicfile"
)

// File is the versioned container behind model files (Kind "model") and training
// checkpoints (Kind "checkpoint").
//
// Byte layout, all integers little-endian:
//
//	magic    [8]byte  "EABSFILE"
//	version  uint32   FileVersion
//	hdrLen   uint32   length of the JSON header
//	header   JSON     {kind, spec, meta, tensors: [{name, shape}], blobs: [{name, len}]}
//	tensors  float32  each tensor's values in header order
//	blobs    bytes    each blob in header order
//	crc      uint32   CRC-32 (IEEE) of every preceding byte
type File struct {
	Kind    string
	Spec    Spec
	Meta    map[string]string
	Tensors []Tensor
	Blobs   []Blob
}

// Tensor is a named float32 array in a File.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Blob is named opaque bytes in a File (RNG state, training state).
type Blob struct {
	Name string
	Data []byte
}

// FileVersion is the container version this package writes and reads.
const FileVersion = 1

var fileMagic = [8]byte{'E', 'A', 'B', 'S', 'F', 'I', 'L', 'E'}

// Limits that keep a lying header from making the reader allocate gigabytes.
const (
	maxHeader     = 16 << 20
	maxTensorVals = 1 << 28
	maxBlob       = 1 << 28
	maxDims       = 8
)

// FormatError reports a malformed or unsupported file.
type FormatError struct {
	Path string // may be empty when reading from a stream
	Msg  string
}

func (e *FormatError) Error() string {
	if e.Path == "" {
		return "models: " + e.Msg
	}
	return "models: " + e.Path + ": " + e.Msg
}

type header struct {
	Kind    string            `json:"kind"`
	Spec    Spec              `json:"spec"`
	Meta    map[string]string `json:"meta,omitempty"`
	Tensors []tensorHeader    `json:"tensors"`
	Blobs   []blobHeader      `json:"blobs,omitempty"`
}

type tensorHeader struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

type blobHeader struct {
	Name string `json:"name"`
	Len  int    `json:"len"`
}

// Encode writes f in the container format.
func (f *File) Encode(w io.Writer) error {
	h := header{Kind: f.Kind, Spec: f.Spec, Meta: f.Meta}
	for _, t := range f.Tensors {
		if Size(t.Shape) != len(t.Data) {
			return fmt.Errorf("models: tensor %s: shape %v holds %d values, have %d", t.Name, t.Shape, Size(t.Shape), len(t.Data))
		}
		h.Tensors = append(h.Tensors, tensorHeader{t.Name, t.Shape})
	}
	for _, b := range f.Blobs {
		h.Blobs = append(h.Blobs, blobHeader{b.Name, len(b.Data)})
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	mw := io.MultiWriter(w, crc)
	var pre [16]byte
	copy(pre[:8], fileMagic[:])
	binary.LittleEndian.PutUint32(pre[8:], FileVersion)
	binary.LittleEndian.PutUint32(pre[12:], uint32(len(hj)))
	if _, err := mw.Write(pre[:]); err != nil {
		return err
	}
	if _, err := mw.Write(hj); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, t := range f.Tensors {
		for i, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) || i == len(t.Data)-1 {
				if _, err := mw.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	for _, b := range f.Blobs {
		if _, err := mw.Write(b.Data); err != nil {
			return err
		}
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc.Sum32())
	_, err = w.Write(sum[:])
	return err
}

// DecodeFile reads a container from r. Every length is checked before it is trusted,
// memory grows only as bytes actually arrive, and the checksum must match.
func DecodeFile(r io.Reader) (*File, error) {
	crc := crc32.NewIEEE()
	tr := io.TeeReader(r, crc)
	var pre [16]byte
	if _, err := io.ReadFull(tr, pre[:]); err != nil {
		return nil, &FormatError{Msg: "truncated header (not an eabs model or checkpoint file?)"}
	}
	if !bytes.Equal(pre[:8], fileMagic[:]) {
		return nil, &FormatError{Msg: fmt.Sprintf("bad magic %q: not an eabs model or checkpoint file", pre[:8])}
	}
	if v := binary.LittleEndian.Uint32(pre[8:]); v != FileVersion {
		return nil, &FormatError{Msg: fmt.Sprintf("file version %d, this eabs reads version %d", v, FileVersion)}
	}
	hl := binary.LittleEndian.Uint32(pre[12:])
	if hl == 0 || hl > maxHeader {
		return nil, &FormatError{Msg: fmt.Sprintf("header length %d out of range", hl)}
	}
	hj, err := readN(tr, int(hl))
	if err != nil {
		return nil, &FormatError{Msg: "truncated header"}
	}
	var h header
	if err := json.Unmarshal(hj, &h); err != nil {
		return nil, &FormatError{Msg: "corrupt header: " + err.Error()}
	}
	f := &File{Kind: h.Kind, Spec: h.Spec, Meta: h.Meta}
	total := 0
	for _, th := range h.Tensors {
		if len(th.Shape) > maxDims {
			return nil, &FormatError{Msg: fmt.Sprintf("tensor %s has %d dimensions", th.Name, len(th.Shape))}
		}
		n := 1
		for _, d := range th.Shape {
			if d < 0 || d > maxTensorVals || n*d > maxTensorVals {
				return nil, &FormatError{Msg: fmt.Sprintf("tensor %s has absurd shape %v", th.Name, th.Shape)}
			}
			n *= d
		}
		total += n
		if total > maxTensorVals {
			return nil, &FormatError{Msg: "tensors hold more values than any eabs model"}
		}
		raw, err := readN(tr, 4*n)
		if err != nil {
			return nil, &FormatError{Msg: fmt.Sprintf("truncated in tensor %s", th.Name)}
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		f.Tensors = append(f.Tensors, Tensor{Name: th.Name, Shape: th.Shape, Data: data})
	}
	for _, bh := range h.Blobs {
		if bh.Len < 0 || bh.Len > maxBlob {
			return nil, &FormatError{Msg: fmt.Sprintf("blob %s has absurd length %d", bh.Name, bh.Len)}
		}
		b, err := readN(tr, bh.Len)
		if err != nil {
			return nil, &FormatError{Msg: fmt.Sprintf("truncated in blob %s", bh.Name)}
		}
		f.Blobs = append(f.Blobs, Blob{Name: bh.Name, Data: b})
	}
	want := crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return nil, &FormatError{Msg: "truncated: checksum missing"}
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != want {
		return nil, &FormatError{Msg: fmt.Sprintf("checksum mismatch (stored %08x, computed %08x): file is corrupt", got, want)}
	}
	return f, nil
}

// readN reads exactly n bytes, growing the buffer only as data arrives so a lying
// length costs at most one chunk of memory before the truncation is noticed.
func readN(r io.Reader, n int) ([]byte, error) {
	const chunk = 1 << 20
	buf := make([]byte, 0, min(n, chunk))
	for len(buf) < n {
		m := min(n-len(buf), chunk)
		start := len(buf)
		buf = append(buf, make([]byte, m)...)
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// Blob returns the named blob or nil.
func (f *File) Blob(name string) []byte {
	for _, b := range f.Blobs {
		if b.Name == name {
			return b.Data
		}
	}
	return nil
}

// WriteFile writes f to path atomically.
func (f *File) WriteFile(path string) error {
	return atomicfile.Write(path, f.Encode)
}

// ReadFile reads a container from path; errors name the path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := DecodeFile(fh)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.Path = path
		}
		return nil, err
	}
	return f, nil
}

// ModelKind is the File.Kind of a model file.
const ModelKind = "model"

// ModelFileName is the model file's name in a training run or export folder.
const ModelFileName = "model.eabs"

// ParamTensors returns the parameters of w as File tensors (sharing their data).
func ParamTensors(w *Weights) []Tensor {
	ts := make([]Tensor, len(w.Params))
	for i, p := range w.Params {
		ts[i] = Tensor{Name: p.Name, Shape: p.Shape, Data: p.Data}
	}
	return ts
}

// WeightsFromTensors checks the first tensors of a file against the spec's layout and
// returns them as Weights. It returns how many tensors it consumed.
func WeightsFromTensors(s Spec, ts []Tensor) (*Weights, int, error) {
	if err := s.Validate(); err != nil {
		return nil, 0, err
	}
	n := len(Layout(s))
	if len(ts) < n {
		return nil, 0, fmt.Errorf("models: file has %d tensors, spec %q on %q needs %d parameters", len(ts), s.Name(), s.Arch.Name, n)
	}
	ps := make([]*Param, n)
	for i := 0; i < n; i++ {
		ps[i] = &Param{Name: ts[i].Name, Shape: ts[i].Shape, Data: ts[i].Data}
	}
	w, err := newWeightsFromLayout(s, ps)
	if err != nil {
		return nil, 0, err
	}
	if err := CheckValues(w); err != nil {
		return nil, 0, err
	}
	return w, n, nil
}

// MaxWeight bounds the magnitude of every value a model file may hold. The trained
// models of the zoo stay below 12 (zoo/mnist-eabs 11.4, zoo/mnist-cnn 10.7, the
// smoothing CNNs below 4.1); a value 1e6 is the mark of a diverged run or a damaged
// file, whose logits would overflow or saturate silently.
const MaxWeight = 1e6

// CheckValues refuses weights a trained model cannot hold: NaN or infinite values,
// magnitudes above MaxWeight, and negative BatchNorm running variances (whose square
// root is NaN). The error names the parameter, the index and the value.
func CheckValues(w *Weights) error {
	for _, p := range w.Params {
		for i, v := range p.Data {
			f := float64(v)
			switch {
			case math.IsNaN(f) || math.IsInf(f, 0):
				return fmt.Errorf("models: parameter %s[%d] is %v: no trained model holds it (a diverged run or a damaged file)", p.Name, i, v)
			case math.Abs(f) > MaxWeight:
				return fmt.Errorf("models: parameter %s[%d] is %g, beyond the %g any trained eabs model stays within (a diverged run or a damaged file)", p.Name, i, v, MaxWeight)
			case p.Role == RoleBNVar && f < 0:
				return fmt.Errorf("models: BatchNorm running variance %s[%d] is %g: a variance cannot be negative (a damaged file)", p.Name, i, v)
			}
		}
	}
	return nil
}

// SaveModel writes the weights of a trained model with free-form metadata (training
// command, dataset hash, measured accuracy) to path, atomically.
func SaveModel(path string, w *Weights, meta map[string]string) error {
	f := &File{Kind: ModelKind, Spec: w.Spec, Meta: meta, Tensors: ParamTensors(w)}
	return f.WriteFile(path)
}

// LoadModel reads a model file (or the weights inside a checkpoint) and checks them
// against the spec stored with them.
func LoadModel(path string) (*Weights, map[string]string, error) {
	f, err := ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if f.Kind != ModelKind && f.Kind != "checkpoint" {
		return nil, nil, &FormatError{Path: path, Msg: fmt.Sprintf("holds a %q, not a model", f.Kind)}
	}
	w, _, err := WeightsFromTensors(f.Spec, f.Tensors)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, f.Meta, nil
}
