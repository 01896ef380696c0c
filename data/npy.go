package data

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// NPY is one array of a NumPy .npy file (format versions 1.0, 2.0 and 3.0, as
// numpy.save writes them; see numpy.lib.format): its element type, its shape and its
// bytes, little-endian, in C (row-major) order.
type NPY struct {
	// Dtype is the element type without its byte order: "u1", "i8", "f4", "b1", or
	// "S7" and "U5" (fixed-width byte and UTF-32 strings).
	Dtype string
	// Shape is outermost first; a 0-d array has none.
	Shape []int
	Data  []byte
}

// Len is the number of elements, the product of Shape.
func (a *NPY) Len() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// ElemSize is the size of one element in bytes.
func (a *NPY) ElemSize() int {
	n, _ := strconv.Atoi(a.Dtype[1:])
	if a.Dtype[0] == 'U' {
		return 4 * n
	}
	return n
}

// Limits on .npy headers. numpy writes headers of a few hundred bytes and refuses to
// read those over 10,000 by default; these reject nonsense before allocating, and a
// shape that is merely lying fails as "truncated" once the bytes run out.
const (
	npyMaxHeader = 1 << 20
	npyMaxDims   = 8
	npyMaxBytes  = 1 << 40
	// npyMaxDepth bounds the nesting of the header's literal (a structured dtype's
	// lists of tuples); the parser recurses once per level.
	npyMaxDepth = 16
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// ReadNPY reads one .npy array from r; file names it in errors. Big-endian data,
// Fortran (column-major) order and structured dtypes are refused with a FormatError
// that says how to save the array instead; every failure is a *FormatError naming
// file. Bytes after the array are ignored (numpy ignores them too).
func ReadNPY(r io.Reader, file string) (*NPY, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return nil, npyShort(file, err, "the 8-byte magic and version")
	}
	if string(pre[:6]) != npyMagic {
		return nil, formatErr(file, "bad magic %q: not a .npy file (it starts with \\x93NUMPY)", pre[:6])
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch major {
	case 1:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, npyShort(file, err, "the header length")
		}
		hlen = int(binary.LittleEndian.Uint16(pre[8:10]))
	case 2, 3:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, npyShort(file, err, "the header length")
		}
		hlen = int(binary.LittleEndian.Uint32(l[:]))
	default:
		return nil, formatErr(file, ".npy format version %d.%d unsupported (want 1.0, 2.0 or 3.0)", major, minor)
	}
	if hlen > npyMaxHeader {
		return nil, formatErr(file, "absurd .npy header length %d (more than %d)", hlen, npyMaxHeader)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, npyShort(file, err, fmt.Sprintf("the %d-byte header", hlen))
	}
	if major < 3 {
		for _, c := range hdr {
			if c >= 0x80 {
				return nil, formatErr(file, ".npy %d.0 header is not ASCII", major)
			}
		}
	} else if !utf8.Valid(hdr) {
		return nil, formatErr(file, ".npy 3.0 header is not UTF-8")
	}
	dtype, shape, err := ParseNPYHeader(string(hdr))
	if err != nil {
		return nil, formatErr(file, "%v", err)
	}
	a := &NPY{Dtype: dtype, Shape: shape}
	size := uint64(a.ElemSize())
	for _, d := range shape {
		size *= uint64(d) // each factor is at most npyMaxBytes: no overflow before the check
		if size > npyMaxBytes {
			return nil, formatErr(file, "absurd shape %v of %s: more than %d bytes", shape, dtype, uint64(npyMaxBytes))
		}
	}
	if a.Data, err = readFull(r, int64(size), file, fmt.Sprintf("array data (shape %v, %s)", shape, dtype)); err != nil {
		return nil, err
	}
	return a, nil
}

func npyShort(file string, err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr(file, "truncated: the file ends before %s", what)
	}
	return readErr(file, err)
}

// ParseNPYHeader parses the header of a .npy file, a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (10, 28, 28), }, and returns the
// dtype without its byte order ("f4") and the shape. It accepts what numpy.save writes
// and refuses, saying what to do instead, what this reader does not support: big-endian
// dtypes, fortran_order True, structured dtypes.
func ParseNPYHeader(h string) (dtype string, shape []int, err error) {
	p := &pyParser{s: h}
	v, err := p.value(0)
	if err != nil {
		return "", nil, fmt.Errorf("bad .npy header %s: %v", clip(h), err)
	}
	p.space()
	if p.i != len(p.s) {
		return "", nil, fmt.Errorf("bad .npy header %s: text after the dict at byte %d", clip(h), p.i)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return "", nil, fmt.Errorf("bad .npy header %s: not a dict", clip(h))
	}
	for k := range d {
		if k != "descr" && k != "fortran_order" && k != "shape" {
			return "", nil, fmt.Errorf("bad .npy header: unknown key %q (want descr, fortran_order, shape)", k)
		}
	}
	descr, ok := d["descr"].(string)
	if !ok {
		if _, list := d["descr"].([]any); list {
			return "", nil, fmt.Errorf("structured dtype (a record array) unsupported: save each field as its own array")
		}
		return "", nil, fmt.Errorf("bad .npy header %s: descr is not a string", clip(h))
	}
	fortran, ok := d["fortran_order"].(bool)
	if !ok {
		return "", nil, fmt.Errorf("bad .npy header %s: fortran_order is not True or False", clip(h))
	}
	if fortran {
		return "", nil, fmt.Errorf("fortran_order True (column-major data) unsupported: save np.ascontiguousarray(a)")
	}
	tup, ok := d["shape"].([]any)
	if !ok {
		return "", nil, fmt.Errorf("bad .npy header %s: shape is not a tuple", clip(h))
	}
	if len(tup) > npyMaxDims {
		return "", nil, fmt.Errorf("absurd .npy shape of %d dimensions (at most %d)", len(tup), npyMaxDims)
	}
	shape = make([]int, len(tup))
	for i, x := range tup {
		n, ok := x.(int64)
		if !ok || n < 0 || n > npyMaxBytes {
			return "", nil, fmt.Errorf("bad .npy header %s: shape entry %v is not a size", clip(h), x)
		}
		shape[i] = int(n)
	}
	if dtype, err = parseDescr(descr); err != nil {
		return "", nil, err
	}
	return dtype, shape, nil
}

// npyKinds are the element types ReadNPY returns, by kind and size in bytes.
var npyKinds = map[byte][]int{'u': {1, 2, 4, 8}, 'i': {1, 2, 4, 8}, 'f': {4, 8}, 'b': {1}}

// parseDescr checks a dtype string ("<f4", "|u1", "<U5") and returns it without its
// byte order.
func parseDescr(d string) (string, error) {
	unsupported := func(why string) error {
		return fmt.Errorf("dtype %q unsupported (%s): want uint8, float32 or float64 pixels and integer labels, little-endian", d, why)
	}
	if len(d) < 2 {
		return "", unsupported("too short")
	}
	order := byte('|')
	body := d
	if strings.IndexByte("<>|=", d[0]) >= 0 {
		order, body = d[0], d[1:]
	}
	if len(body) < 2 {
		return "", unsupported("too short")
	}
	kind := body[0]
	n, err := strconv.Atoi(body[1:])
	if err != nil || n < 1 || n > 1<<20 || body[1] == '+' {
		return "", unsupported("no element size")
	}
	size := n
	switch kind {
	case 'S':
	case 'U':
		size = 4 * n
	default:
		if !slices.Contains(npyKinds[kind], n) {
			return "", unsupported("not a supported element type")
		}
	}
	switch {
	case size == 1 || kind == 'S' || order == '<':
	case order == '>':
		return "", fmt.Errorf("big-endian dtype %q unsupported: save a.astype(a.dtype.newbyteorder('<'))", d)
	default:
		return "", unsupported(fmt.Sprintf("byte order %q for %d-byte elements", order, size))
	}
	return fmt.Sprintf("%c%d", kind, n), nil
}

// clip shortens a header for an error message.
func clip(s string) string {
	s = strings.TrimRight(s, " \n")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strconv.Quote(s)
}

// pyParser reads the subset of Python literals .npy headers use: dicts, tuples,
// lists, strings, integers (with Python 2's L suffix), True, False and None. Values
// are map[string]any, []any, string, int64, bool and nil.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) value(depth int) (any, error) {
	if depth > npyMaxDepth {
		return nil, fmt.Errorf("nested more than %d deep", npyMaxDepth)
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("ends where a value should be")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		p.i++
		d := map[string]any{}
		err := p.items('}', func() error {
			k, err := p.value(depth + 1)
			if err != nil {
				return err
			}
			key, ok := k.(string)
			if !ok {
				return fmt.Errorf("dict key %v is not a string", k)
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return fmt.Errorf("no ':' after key %q", key)
			}
			p.i++
			v, err := p.value(depth + 1)
			if err != nil {
				return err
			}
			if _, dup := d[key]; dup {
				return fmt.Errorf("key %q twice", key)
			}
			d[key] = v
			return nil
		})
		return d, err
	case c == '(' || c == '[':
		p.i++
		var l []any
		end := byte(')')
		if c == '[' {
			end = ']'
		}
		err := p.items(end, func() error {
			v, err := p.value(depth + 1)
			l = append(l, v)
			return err
		})
		if l == nil {
			l = []any{}
		}
		return l, err
	case c == '\'' || c == '"':
		return p.str(c)
	case c == '-' || c == '+' || c >= '0' && c <= '9':
		return p.int()
	}
	for _, w := range []struct {
		word string
		v    any
	}{{"True", true}, {"False", false}, {"None", nil}} {
		if strings.HasPrefix(p.s[p.i:], w.word) {
			p.i += len(w.word)
			return w.v, nil
		}
	}
	return nil, fmt.Errorf("unexpected %q at byte %d", p.s[p.i], p.i)
}

// items parses comma-separated items up to end (a trailing comma allowed).
func (p *pyParser) items(end byte, item func() error) error {
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == end {
			p.i++
			return nil
		}
		if err := item(); err != nil {
			return err
		}
		p.space()
		if p.i >= len(p.s) {
			return fmt.Errorf("no closing %q", end)
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case end:
		default:
			return fmt.Errorf("unexpected %q at byte %d", p.s[p.i], p.i)
		}
	}
}

func (p *pyParser) str(q byte) (any, error) {
	var b strings.Builder
	for p.i++; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; c {
		case q:
			p.i++
			return b.String(), nil
		case '\\':
			p.i++
			if p.i >= len(p.s) {
				return nil, fmt.Errorf("unterminated string")
			}
			b.WriteByte(p.s[p.i])
		default:
			b.WriteByte(c)
		}
	}
	return nil, fmt.Errorf("unterminated string")
}

func (p *pyParser) int() (any, error) {
	start := p.i
	if c := p.s[p.i]; c == '-' || c == '+' {
		p.i++
	}
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("bad integer %q", p.s[start:p.i])
	}
	if p.i < len(p.s) && (p.s[p.i] == 'L' || p.s[p.i] == 'l') { // Python 2's long
		p.i++
	}
	return n, nil
}

// NPZ is a NumPy .npz file (numpy.savez or savez_compressed): a zip archive of .npy
// arrays, each read on demand.
type NPZ struct {
	file    string
	members map[string]*zip.File
	names   []string
}

// ReadNPZ opens the .npz archive in r (of size bytes); file names it in errors.
func ReadNPZ(r io.ReaderAt, size int64, file string) (*NPZ, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, formatErr(file, "not a .npz file (a zip archive of .npy arrays): %v", err)
	}
	z := &NPZ{file: file, members: map[string]*zip.File{}}
	for _, f := range zr.File {
		name, ok := strings.CutSuffix(f.Name, ".npy")
		if !ok || strings.HasSuffix(f.Name, "/") {
			continue
		}
		if _, dup := z.members[name]; dup {
			return nil, formatErr(file, "array %q stored twice", name)
		}
		z.members[name] = f
		z.names = append(z.names, name)
	}
	slices.Sort(z.names)
	if len(z.names) == 0 {
		return nil, formatErr(file, "holds no .npy arrays")
	}
	return z, nil
}

// Names are the arrays in the archive, sorted.
func (z *NPZ) Names() []string { return z.names }

// Has reports whether the archive holds array name.
func (z *NPZ) Has(name string) bool { return z.members[name] != nil }

// Array reads array name; errors name the file and the array ("data.npz[x]").
func (z *NPZ) Array(name string) (*NPY, error) {
	f := z.members[name]
	what := fmt.Sprintf("%s[%s]", z.file, name)
	if f == nil {
		return nil, formatErr(z.file, "no array %q (it holds %s)", name, strings.Join(z.names, ", "))
	}
	rc, err := f.Open()
	if err != nil {
		return nil, formatErr(what, "cannot read from the archive: %v", err)
	}
	defer rc.Close()
	a, err := ReadNPY(rc, what)
	if err != nil {
		return nil, npzErr(what, err)
	}
	// The zip reader checks the CRC only at the end of the member: read it out.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return nil, npzErr(what, err)
	}
	return a, nil
}

// npzErr turns an archive error inside a member into a FormatError naming it.
func npzErr(what string, err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) || errors.Is(err, zip.ErrAlgorithm) || isCorruptStream(err) {
		return formatErr(what, "corrupt archive member: %v", err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// npyIndex writes flat element i of shape as numpy indexing does: "[3, 5, 7, 0]".
func npyIndex(shape []int, i int) string {
	idx := make([]string, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = strconv.Itoa(i % shape[d])
		i /= shape[d]
	}
	return "[" + strings.Join(idx, ", ") + "]"
}

// getter returns a function reading element i of a numeric array as float64 (exact
// for every supported type but 64-bit integers beyond 2^53, which no pixel or label
// is), or false for a string array. Reading in place keeps a 50,000-image array from
// being copied into float64.
func (a *NPY) getter() (func(i int) float64, bool) {
	le, d := binary.LittleEndian, a.Data
	switch a.Dtype {
	case "u1", "b1":
		return func(i int) float64 { return float64(d[i]) }, true
	case "i1":
		return func(i int) float64 { return float64(int8(d[i])) }, true
	case "u2":
		return func(i int) float64 { return float64(le.Uint16(d[2*i:])) }, true
	case "i2":
		return func(i int) float64 { return float64(int16(le.Uint16(d[2*i:]))) }, true
	case "u4":
		return func(i int) float64 { return float64(le.Uint32(d[4*i:])) }, true
	case "i4":
		return func(i int) float64 { return float64(int32(le.Uint32(d[4*i:]))) }, true
	case "u8":
		return func(i int) float64 { return float64(le.Uint64(d[8*i:])) }, true
	case "i8":
		return func(i int) float64 { return float64(int64(le.Uint64(d[8*i:]))) }, true
	case "f4":
		return func(i int) float64 { return float64(math.Float32frombits(le.Uint32(d[4*i:]))) }, true
	case "f8":
		return func(i int) float64 { return math.Float64frombits(le.Uint64(d[8*i:])) }, true
	}
	return nil, false
}

// Strings returns the elements of a string array ("S" or "U" dtype) with numpy's
// trailing NULs removed.
func (a *NPY) Strings() ([]string, error) {
	n, size := a.Len(), a.ElemSize()
	out := make([]string, n)
	for i := range out {
		b := a.Data[i*size : (i+1)*size]
		switch a.Dtype[0] {
		case 'S':
			out[i] = strings.TrimRight(string(b), "\x00")
		case 'U':
			var sb strings.Builder
			for j := 0; j < len(b); j += 4 {
				r := rune(binary.LittleEndian.Uint32(b[j:]))
				if r == 0 {
					break
				}
				if !utf8.ValidRune(r) {
					return nil, fmt.Errorf("string %d holds the invalid code point %#x", i, uint32(r))
				}
				sb.WriteRune(r)
			}
			out[i] = sb.String()
		default:
			return nil, fmt.Errorf("dtype %s is not a string type (want U or S)", a.Dtype)
		}
	}
	return out, nil
}
