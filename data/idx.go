package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// IDX is the content of one IDX file of unsigned bytes (the format of MNIST and
// Fashion-MNIST): its dimensions, outermost first, and its data in row-major order.
type IDX struct {
	Dims []int
	Data []byte
}

// Limits on IDX headers. No real IDX file comes near them; they reject headers that
// are nonsense on their face (a 100,000-pixel-wide digit). A header that is merely
// lying about the item count passes them and fails as "truncated" once the bytes run
// out, since the body is read chunk by chunk.
const (
	idxMaxDims  = 4
	idxMaxCount = 1<<31 - 1 // leading dimension (number of items)
	idxMaxSide  = 1 << 14   // every other dimension
	idxMaxBytes = 1 << 40   // whole body
)

// idxTypeNames names the IDX element types, for error messages.
var idxTypeNames = map[byte]string{
	0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16",
	0x0C: "int32", 0x0D: "float32", 0x0E: "float64",
}

// ReadIDX reads an IDX file of unsigned bytes from r, gzipped or raw (detected by the
// gzip magic bytes, not by the name). file names the source in errors.
//
// The body is read in chunks as it arrives, so a header claiming more data than the
// file holds fails with a "truncated" FormatError after reading what is there, and a
// header whose sizes are absurd fails before reading anything. Bytes after the body
// are an error too: they mean the header and the file disagree.
func ReadIDX(r io.Reader, file string) (*IDX, error) {
	r, err := maybeGunzip(r, file)
	if err != nil {
		return nil, err
	}
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, formatErr(file, "truncated: IDX header needs 4 bytes")
		}
		return nil, readErr(file, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, formatErr(file, "bad magic 0x%08x: not an IDX file", binary.BigEndian.Uint32(magic[:]))
	}
	typ, nd := magic[2], int(magic[3])
	if typ != 0x08 {
		name, ok := idxTypeNames[typ]
		if !ok {
			return nil, formatErr(file, "bad magic 0x%08x: unknown IDX element type 0x%02x", binary.BigEndian.Uint32(magic[:]), typ)
		}
		return nil, formatErr(file, "IDX element type 0x%02x (%s) unsupported: want 0x08 (unsigned byte)", typ, name)
	}
	if nd < 1 || nd > idxMaxDims {
		return nil, formatErr(file, "absurd IDX header: %d dimensions (want 1 to %d)", nd, idxMaxDims)
	}
	hdr := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, hdr); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, formatErr(file, "truncated: IDX header needs %d dimension sizes", nd)
		}
		return nil, readErr(file, err)
	}
	dims := make([]int, nd)
	total := uint64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4*i:])
		limit := uint32(idxMaxSide)
		if i == 0 {
			limit = idxMaxCount
		}
		if d > limit || (i > 0 && d == 0) {
			return nil, formatErr(file, "absurd IDX header: dimension %d is %d (want %d to %d)", i, d, min(i, 1), limit)
		}
		dims[i] = int(d)
		if d > 0 && total > idxMaxBytes/uint64(d) {
			return nil, formatErr(file, "absurd IDX header: dimensions %v exceed %d bytes", dims[:i+1], uint64(idxMaxBytes))
		}
		total *= uint64(d)
	}
	body, err := readFull(r, int64(total), file, fmt.Sprintf("IDX body %v", dims))
	if err != nil {
		return nil, err
	}
	if err := expectEOF(r, file, "IDX body"); err != nil {
		return nil, err
	}
	return &IDX{Dims: dims, Data: body}, nil
}

// expectEOF checks that r has nothing left. Reading to the end also makes a gzip
// reader verify its checksum, so corruption in the trailer is caught here.
func expectEOF(r io.Reader, file, after string) error {
	var b [512]byte
	n, err := io.ReadFull(r, b[:])
	switch {
	case n > 0:
		return formatErr(file, "trailing data after %s", after)
	case errors.Is(err, io.EOF):
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return formatErr(file, "truncated compressed stream after %s", after)
	default:
		return readErr(file, err)
	}
}

// Magic numbers of the two IDX files a labelled image set is made of.
const (
	idxImagesMagic = 0x00000803 // unsigned byte, 3 dimensions: count, rows, columns
	idxLabelsMagic = 0x00000801 // unsigned byte, 1 dimension: count
)

// readIDXImages reads an IDX image file and checks it has three dimensions.
func readIDXImages(r io.Reader, file string) (*IDX, error) {
	x, err := ReadIDX(r, file)
	if err != nil {
		return nil, err
	}
	if len(x.Dims) != 3 {
		return nil, formatErr(file, "bad magic 0x%08x, want 0x%08x (IDX images: unsigned byte, 3 dimensions)", 0x0800|len(x.Dims), idxImagesMagic)
	}
	return x, nil
}

// readIDXLabels reads an IDX label file, checks it has one dimension and that every
// label is below classes.
func readIDXLabels(r io.Reader, file string, classes int) (*IDX, error) {
	x, err := ReadIDX(r, file)
	if err != nil {
		return nil, err
	}
	if len(x.Dims) != 1 {
		return nil, formatErr(file, "bad magic 0x%08x, want 0x%08x (IDX labels: unsigned byte, 1 dimension)", 0x0800|len(x.Dims), idxLabelsMagic)
	}
	for i, l := range x.Data {
		if int(l) >= classes {
			return nil, formatErr(file, "label %d of item %d out of range (want 0 to %d)", l, i, classes-1)
		}
	}
	return x, nil
}
