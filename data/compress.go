package data

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
)

// isCorruptStream reports whether err comes from a malformed gzip, zlib or deflate
// stream (as opposed to an I/O failure underneath it).
func isCorruptStream(err error) bool {
	var ce flate.CorruptInputError
	return errors.As(err, &ce) ||
		errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) ||
		errors.Is(err, zlib.ErrHeader) || errors.Is(err, zlib.ErrChecksum) || errors.Is(err, zlib.ErrDictionary)
}

// maybeGunzip returns a reader of r's content, decompressed if r starts with the gzip
// magic bytes 1f 8b. Deciding by content rather than by the ".gz" suffix means a file
// that was gunzipped but kept its name (or the reverse) still reads.
func maybeGunzip(r io.Reader, file string) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, readErr(file, err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, formatErr(file, "truncated gzip header")
			}
			return nil, formatErr(file, "bad gzip header: %v", err)
		}
		return zr, nil
	}
	return br, nil
}
