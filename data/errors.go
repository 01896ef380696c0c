package data

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// FormatError reports input that is not what its format promises: bad magic, a
// truncated body, sizes that disagree, absurd dimensions, an unparsable CSV row.
// File is the path (or name) the bytes came from, so a user can find the culprit
// among thousands of files.
type FormatError struct {
	File string
	Msg  string
}

func (e *FormatError) Error() string { return e.File + ": " + e.Msg }

func formatErr(file, format string, args ...any) *FormatError {
	return &FormatError{File: file, Msg: fmt.Sprintf(format, args...)}
}

// NotFoundError reports a file or directory a dataset needs that is not there. It
// matches fs.ErrNotExist under errors.Is, so callers can tell "get the data" apart
// from "the data is broken" (a *FormatError).
type NotFoundError struct{ Msg string }

func (e *NotFoundError) Error() string { return e.Msg }

// Is reports whether target is fs.ErrNotExist.
func (e *NotFoundError) Is(target error) bool { return target == fs.ErrNotExist }

func notFound(format string, args ...any) error {
	return &NotFoundError{Msg: fmt.Sprintf(format, args...)}
}

// UnknownDatasetError is returned by [Load] and [Fingerprint] for a name they do not
// know; its message lists the names they do and the forms of own data.
type UnknownDatasetError struct{ Name string }

func (e *UnknownDatasetError) Error() string {
	return fmt.Sprintf("unknown dataset %q (known: %s; own data: %s)", e.Name, strings.Join(Names(), ", "), OwnForms)
}

// readChunk is the first allocation while reading a body whose size a header
// announced. After it the buffer doubles only once it is full, so it never holds more
// than twice the bytes that actually arrived (plus one chunk): a lying header costs
// one chunk, not the size it claims, and a real 47 MB body is read with a dozen
// allocations.
const readChunk = 64 << 10

// readFull reads exactly n bytes from r, growing the buffer chunk by chunk as data
// arrives. what describes the body for the error ("pixel data"); a short body is a
// FormatError saying how many bytes were promised and how many came.
func readFull(r io.Reader, n int64, file, what string) ([]byte, error) {
	if n < 0 {
		return nil, formatErr(file, "negative size %d for %s", n, what)
	}
	buf := make([]byte, 0, min(n, readChunk))
	for int64(len(buf)) < n {
		step := min(n-int64(len(buf)), max(int64(len(buf)), readChunk))
		if int64(cap(buf)-len(buf)) < step {
			nb := make([]byte, len(buf), int64(len(buf))+step)
			copy(nb, buf)
			buf = nb
		}
		got, err := io.ReadFull(r, buf[len(buf):int64(len(buf))+step])
		buf = buf[:len(buf)+got]
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, formatErr(file, "truncated: %s should be %d bytes, file ends after %d", what, n, len(buf))
			}
			return nil, readErr(file, err)
		}
	}
	return buf, nil
}

// readErr turns an error from the underlying reader into one naming the file. Corrupt
// compressed streams become FormatErrors; I/O errors are wrapped so callers can still
// inspect them.
func readErr(file string, err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	if isCorruptStream(err) {
		return formatErr(file, "corrupt compressed data: %v", err)
	}
	return fmt.Errorf("%s: %w", file, err)
}
