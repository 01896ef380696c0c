package data

import (
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// MAT-file v5 data types (the "mi" codes of the MATLAB MAT-File Format document).
const (
	miINT8       = 1
	miUINT8      = 2
	miINT16      = 3
	miUINT16     = 4
	miINT32      = 5
	miUINT32     = 6
	miSINGLE     = 7
	miDOUBLE     = 9
	miINT64      = 12
	miUINT64     = 13
	miMATRIX     = 14
	miCOMPRESSED = 15
	miUTF8       = 16
	miUTF16      = 17
	miUTF32      = 18
)

// miSize is the element size in bytes of each numeric data type.
var miSize = map[uint32]int{
	miINT8: 1, miUINT8: 1, miINT16: 2, miUINT16: 2, miINT32: 4, miUINT32: 4,
	miSINGLE: 4, miDOUBLE: 8, miINT64: 8, miUINT64: 8,
}

// MATClass is the MATLAB class of an array (the "mx" codes).
type MATClass uint8

// MATLAB array classes.
const (
	MATCell   MATClass = 1
	MATStruct MATClass = 2
	MATObject MATClass = 3
	MATChar   MATClass = 4
	MATSparse MATClass = 5
	MATDouble MATClass = 6
	MATSingle MATClass = 7
	MATInt8   MATClass = 8
	MATUint8  MATClass = 9
	MATInt16  MATClass = 10
	MATUint16 MATClass = 11
	MATInt32  MATClass = 12
	MATUint32 MATClass = 13
	MATInt64  MATClass = 14
	MATUint64 MATClass = 15
)

var matClassNames = map[MATClass]string{
	MATCell: "cell", MATStruct: "struct", MATObject: "object", MATChar: "char",
	MATSparse: "sparse", MATDouble: "double", MATSingle: "single", MATInt8: "int8",
	MATUint8: "uint8", MATInt16: "int16", MATUint16: "uint16", MATInt32: "int32",
	MATUint32: "uint32", MATInt64: "int64", MATUint64: "uint64",
}

func (c MATClass) String() string {
	if n, ok := matClassNames[c]; ok {
		return n
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// numeric reports whether arrays of class c hold plain numbers ReadMAT decodes.
func (c MATClass) numeric() bool { return c >= MATDouble && c <= MATUint64 }

// MATArray is one variable of a MAT file. Only real, full numeric arrays carry data;
// for other classes (cell, struct, char, sparse, ...) and complex arrays ReadMAT keeps
// the name, class and dimensions so callers can say what they found, and the accessors
// return an error.
type MATArray struct {
	Name    string
	Class   MATClass
	Dims    []int // MATLAB order; the data is column-major (first index fastest)
	Complex bool

	typ   uint32 // storage type of the real part; MATLAB may narrow it (doubles as miUINT8)
	raw   []byte
	order binary.ByteOrder
	file  string
}

// Len is the number of elements, the product of Dims.
func (a *MATArray) Len() int {
	n := 1
	for _, d := range a.Dims {
		n *= d
	}
	return n
}

func (a *MATArray) usable() error {
	if !a.Class.numeric() {
		return formatErr(a.file, "variable %s has class %s, want a numeric array", a.Name, a.Class)
	}
	if a.Complex {
		return formatErr(a.file, "variable %s is complex, want real", a.Name)
	}
	return nil
}

// Uint8 returns the elements of a uint8 array in column-major order. When the file
// stores them as bytes (as MATLAB and scipy do) the result aliases the decoded data.
func (a *MATArray) Uint8() ([]byte, error) {
	if err := a.usable(); err != nil {
		return nil, err
	}
	if a.Class != MATUint8 {
		return nil, formatErr(a.file, "variable %s has class %s, want uint8", a.Name, a.Class)
	}
	if a.typ == miUINT8 {
		return a.raw, nil
	}
	f, err := a.Float64()
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(f))
	for i, v := range f {
		if v < 0 || v > 255 || v != math.Trunc(v) {
			return nil, formatErr(a.file, "variable %s element %d is %v, not a uint8", a.Name, i, v)
		}
		out[i] = byte(v)
	}
	return out, nil
}

// Float64 returns the elements of a numeric array in column-major order, converted
// from whatever type the file stores them in.
func (a *MATArray) Float64() ([]float64, error) {
	if err := a.usable(); err != nil {
		return nil, err
	}
	size := miSize[a.typ]
	out := make([]float64, len(a.raw)/size)
	b, o := a.raw, a.order
	for i := range out {
		p := b[i*size:]
		switch a.typ {
		case miINT8:
			out[i] = float64(int8(p[0]))
		case miUINT8:
			out[i] = float64(p[0])
		case miINT16:
			out[i] = float64(int16(o.Uint16(p)))
		case miUINT16:
			out[i] = float64(o.Uint16(p))
		case miINT32:
			out[i] = float64(int32(o.Uint32(p)))
		case miUINT32:
			out[i] = float64(o.Uint32(p))
		case miSINGLE:
			out[i] = float64(math.Float32frombits(o.Uint32(p)))
		case miDOUBLE:
			out[i] = math.Float64frombits(o.Uint64(p))
		case miINT64:
			out[i] = float64(int64(o.Uint64(p)))
		case miUINT64:
			out[i] = float64(o.Uint64(p))
		}
	}
	return out, nil
}

// MATFile is the content of a MAT-file: its header text and its variables in order.
type MATFile struct {
	Header string
	Arrays []*MATArray
}

// Array returns the variable called name, or nil.
func (f *MATFile) Array(name string) *MATArray {
	for _, a := range f.Arrays {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// matMaxDims bounds the number of dimensions of one array; MATLAB has no hard limit,
// but no real file comes close and a corrupt header must not drive allocation.
const matMaxDims = 32

// ReadMAT reads a MATLAB level 5 MAT-file (the format of `save -v6`/`-v7`, which the
// official SVHN files use): a 128-byte header whose last two bytes "IM" or "MI" give
// the byte order, then data elements, each miMATRIX or miCOMPRESSED (a zlib stream
// holding one miMATRIX). Small data elements (tag and up to 4 bytes of data packed in
// 8 bytes) are understood. v7.3 files (HDF5) and v4 files are FormatErrors, as is
// anything truncated or inconsistent; file names the source in errors.
func ReadMAT(r io.Reader, file string) (*MATFile, error) {
	var hdr [128]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, formatErr(file, "truncated: MAT-file header needs 128 bytes, file has %d", n)
		}
		return nil, readErr(file, err)
	}
	text := strings.TrimRight(string(hdr[:116]), " \x00")
	var order binary.ByteOrder
	switch string(hdr[126:128]) {
	case "IM":
		order = binary.LittleEndian
	case "MI":
		order = binary.BigEndian
	default:
		if strings.HasPrefix(text, "MATLAB 7.3") {
			return nil, formatErr(file, "MAT-file v7.3 (HDF5) unsupported: want a level 5 MAT-file (save -v7)")
		}
		return nil, formatErr(file, "bad MAT-file header: endian indicator %q, want \"IM\" or \"MI\" (not a level 5 MAT-file)", hdr[126:128])
	}
	if v := order.Uint16(hdr[124:]); v != 0x0100 {
		if strings.HasPrefix(text, "MATLAB 7.3") || v == 0x0200 {
			return nil, formatErr(file, "MAT-file v7.3 (HDF5) unsupported: want a level 5 MAT-file (save -v7)")
		}
		return nil, formatErr(file, "bad MAT-file version 0x%04x, want 0x0100", v)
	}
	out := &MATFile{Header: text}
	for {
		var tag [8]byte
		n, err := io.ReadFull(r, tag[:])
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, formatErr(file, "truncated: data element tag cut after %d bytes", n)
			}
			return nil, readErr(file, err)
		}
		typ, size := order.Uint32(tag[:]), order.Uint32(tag[4:])
		if typ>>16 != 0 {
			return nil, formatErr(file, "bad top-level data element: small element of type %d (want miMATRIX or miCOMPRESSED)", typ&0xffff)
		}
		var body []byte
		switch typ {
		case miMATRIX:
			if body, err = readFull(r, int64(size), file, "miMATRIX element"); err != nil {
				return nil, err
			}
		case miCOMPRESSED:
			if body, err = readCompressed(r, int64(size), order, file); err != nil {
				return nil, err
			}
		default:
			return nil, formatErr(file, "bad top-level data element type %d (want miMATRIX %d or miCOMPRESSED %d)", typ, miMATRIX, miCOMPRESSED)
		}
		if len(body) == 0 {
			continue // an empty miMATRIX is legal and holds nothing
		}
		a, err := parseMatrix(body, order, file)
		if err != nil {
			return nil, err
		}
		out.Arrays = append(out.Arrays, a)
	}
}

// readCompressed inflates one miCOMPRESSED element of size bytes and returns the body
// of the miMATRIX inside. The decompressed size comes from the inner tag and is read
// chunk by chunk, so a lying tag or a zlib bomb costs only what actually inflates.
func readCompressed(r io.Reader, size int64, order binary.ByteOrder, file string) ([]byte, error) {
	lr := &io.LimitedReader{R: r, N: size}
	zr, err := zlib.NewReader(lr)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, formatErr(file, "truncated miCOMPRESSED element")
		}
		return nil, formatErr(file, "bad zlib stream in miCOMPRESSED element: %v", err)
	}
	var tag [8]byte
	if _, err := io.ReadFull(zr, tag[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, formatErr(file, "truncated miCOMPRESSED element: no data element inside")
		}
		return nil, readErr(file, err)
	}
	typ, n := order.Uint32(tag[:]), order.Uint32(tag[4:])
	if typ != miMATRIX {
		return nil, formatErr(file, "miCOMPRESSED element holds data type %d, want miMATRIX", typ)
	}
	body, err := readFull(zr, int64(n), file, "compressed miMATRIX element")
	if err != nil {
		return nil, err
	}
	if err := expectEOF(zr, file, "compressed miMATRIX element"); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return nil, readErr(file, err)
	}
	if lr.N > 0 {
		return nil, formatErr(file, "truncated: miCOMPRESSED element should be %d bytes, file ends %d early", size, lr.N)
	}
	return body, nil
}

// subElement reads the data element at b[*off:], small or normal format, and advances
// *off past it and its padding to 8 bytes.
func subElement(b []byte, off *int, order binary.ByteOrder, file, what string) (typ uint32, data []byte, err error) {
	if len(b)-*off < 8 {
		return 0, nil, formatErr(file, "truncated miMATRIX: no room for %s", what)
	}
	v := order.Uint32(b[*off:])
	if v>>16 != 0 { // small data element: size in the high half, data in the next 4 bytes
		n := int(v >> 16)
		if n > 4 {
			return 0, nil, formatErr(file, "bad small data element for %s: %d bytes (at most 4)", what, n)
		}
		data = b[*off+4 : *off+4+n]
		*off += 8
		return v & 0xffff, data, nil
	}
	n := int64(order.Uint32(b[*off+4:]))
	start := int64(*off) + 8
	if n > int64(len(b))-start {
		return 0, nil, formatErr(file, "truncated miMATRIX: %s claims %d bytes, %d left", what, n, int64(len(b))-start)
	}
	data = b[start : start+n]
	*off = int(min(start+(n+7)/8*8, int64(len(b))))
	return v, data, nil
}

// parseMatrix decodes the body of an miMATRIX element: array flags, dimensions, name
// and, for real numeric classes, the real part.
func parseMatrix(b []byte, order binary.ByteOrder, file string) (*MATArray, error) {
	off := 0
	typ, flags, err := subElement(b, &off, order, file, "array flags")
	if err != nil {
		return nil, err
	}
	if typ != miUINT32 || len(flags) != 8 {
		return nil, formatErr(file, "bad miMATRIX: array flags are type %d, %d bytes (want miUINT32, 8)", typ, len(flags))
	}
	f := order.Uint32(flags)
	a := &MATArray{Class: MATClass(f & 0xff), Complex: f&0x800 != 0, order: order, file: file}
	typ, dims, err := subElement(b, &off, order, file, "dimensions")
	if err != nil {
		return nil, err
	}
	if typ != miINT32 || len(dims)%4 != 0 || len(dims) < 8 || len(dims) > 4*matMaxDims {
		return nil, formatErr(file, "bad miMATRIX: dimensions are type %d, %d bytes (want miINT32, 2 to %d values)", typ, len(dims), matMaxDims)
	}
	count := uint64(1)
	for i := 0; i < len(dims); i += 4 {
		d := int32(order.Uint32(dims[i:]))
		if d < 0 {
			return nil, formatErr(file, "bad miMATRIX: negative dimension %d", d)
		}
		a.Dims = append(a.Dims, int(d))
		// No element is smaller than a byte, so more elements than the miMATRIX has
		// bytes is a lie; checking as we go keeps the product from overflowing.
		if count = min(count*uint64(d), uint64(len(b))+1); count > uint64(len(b)) && a.Class.numeric() {
			return nil, formatErr(file, "bad miMATRIX: dimensions %v need more data than the element holds", a.Dims)
		}
	}
	typ, name, err := subElement(b, &off, order, file, "array name")
	if err != nil {
		return nil, err
	}
	if typ != miINT8 && typ != miUTF8 {
		return nil, formatErr(file, "bad miMATRIX: array name is type %d (want miINT8)", typ)
	}
	a.Name = string(name)
	if !a.Class.numeric() || a.Complex {
		return a, nil // kept for its name and class; the accessors refuse it
	}
	typ, real, err := subElement(b, &off, order, file, "real part of "+a.Name)
	if err != nil {
		return nil, err
	}
	size, ok := miSize[typ]
	if !ok {
		return nil, formatErr(file, "variable %s: real part has data type %d, want a numeric type", a.Name, typ)
	}
	if uint64(len(real)) != count*uint64(size) {
		return nil, formatErr(file, "variable %s: dimensions %v need %d bytes of type %d, element has %d",
			a.Name, a.Dims, count*uint64(size), typ, len(real))
	}
	a.typ, a.raw = typ, real
	return a, nil
}
