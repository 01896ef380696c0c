package data

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// source is where a dataset's files come from (a directory or the embedded sample)
// and the record of what was read from it, for the fingerprint.
type source struct {
	fsys fs.FS
	root string // as the user gave it, for messages; EmbeddedRoot for the sample

	mu      sync.Mutex
	digests []FileDigest
	seen    map[string]bool
}

func newSource(root string) (*source, error) {
	if root == EmbeddedRoot {
		return &source{fsys: sampleFS(), root: EmbeddedRoot}, nil
	}
	return newDirSource(root)
}

// newDirSource is a source on directory root, even one named like EmbeddedRoot (own
// data names a real folder).
func newDirSource(root string) (*source, error) {
	st, err := os.Stat(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound("data directory %s does not exist", root)
		}
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data directory %s is not a directory", root)
	}
	return &source{fsys: os.DirFS(root), root: root}, nil
}

// display turns a slash path relative to the root into the path a user can open.
func (s *source) display(rel string) string {
	if s.root == EmbeddedRoot {
		return EmbeddedRoot + ":" + rel
	}
	return filepath.Join(s.root, filepath.FromSlash(rel))
}

// isFile reports whether rel exists as a regular file.
func (s *source) isFile(rel string) bool {
	st, err := fs.Stat(s.fsys, rel)
	return err == nil && st.Mode().IsRegular()
}

// isDir reports whether rel exists as a directory.
func (s *source) isDir(rel string) bool {
	st, err := fs.Stat(s.fsys, rel)
	return err == nil && st.IsDir()
}

// first returns the first of candidates that exists as a file in dir, or an error that
// names the directory and what was looked for.
func (s *source) first(dir string, candidates ...string) (string, error) {
	for _, c := range candidates {
		if rel := path.Join(dir, c); s.isFile(rel) {
			return rel, nil
		}
	}
	if !s.isDir(dir) {
		return "", notFound("directory %s not found", s.display(dir))
	}
	return "", notFound("%s not found in %s (looked for %s)", candidates[0], s.display(dir), strings.Join(candidates, ", "))
}

// firstOf returns the first of the paths (relative to the root) that exists as a
// file, or an error that says what was wanted and where it was looked for.
func (s *source) firstOf(paths []string, what string) (string, error) {
	for _, p := range paths {
		if s.isFile(p) {
			return p, nil
		}
	}
	shown := make([]string, len(paths))
	for i, p := range paths {
		shown[i] = s.display(p)
	}
	return "", notFound("%s not found (looked for %s)", what, strings.Join(shown, ", "))
}

// readDir lists the names in directory rel, sorted.
func (s *source) readDir(rel string) ([]string, error) {
	es, err := fs.ReadDir(s.fsys, rel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.display(rel), err)
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	return names, nil
}

// open opens rel, turning a missing file into an error that names its full path.
func (s *source) open(rel string) (fs.File, error) {
	f, err := s.fsys.Open(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound("%s: file not found", s.display(rel))
		}
		return nil, fmt.Errorf("%s: %w", s.display(rel), err)
	}
	return f, nil
}

// read opens rel and passes its content to decode, hashing every byte of the file
// (including any decode did not consume) for the fingerprint.
func (s *source) read(rel string, decode func(r io.Reader) error) error {
	f, err := s.open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if err := decode(io.TeeReader(f, h)); err != nil {
		return err
	}
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s: %w", s.display(rel), err)
	}
	s.record(rel, h.Sum(nil))
	return nil
}

// readFile returns the whole content of rel, recording its digest. For small files
// (PPM images, CSVs) one read beats streaming.
func (s *source) readFile(rel string) ([]byte, error) {
	b, err := fs.ReadFile(s.fsys, rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound("%s: file not found", s.display(rel))
		}
		return nil, fmt.Errorf("%s: %w", s.display(rel), err)
	}
	sum := sha256.Sum256(b)
	s.record(rel, sum[:])
	return b, nil
}

// hash records the digest of rel without decoding it (for Fingerprint).
func (s *source) hash(rel string) error {
	return s.read(rel, func(io.Reader) error { return nil })
}

// record notes the digest of rel; a file read twice (a CSV parsed to plan a load and
// again by Fingerprint) is recorded once.
func (s *source) record(rel string, sum []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[rel] {
		return
	}
	if s.seen == nil {
		s.seen = make(map[string]bool)
	}
	s.seen[rel] = true
	s.digests = append(s.digests, FileDigest{Path: rel, SHA256: hex.EncodeToString(sum)})
}

// fingerprint returns the recorded digests sorted by path and their combined hash.
//
// The combined hash is the SHA-256 of the lines "<sha256>  <path>\n" in path order,
// which is exactly what `sha256sum` prints, so it can be checked without eabs:
//
//	cd ROOT && sha256sum mnist/* | LC_ALL=C sort -k2 | sha256sum
func (s *source) fingerprint() ([]FileDigest, string) {
	s.mu.Lock()
	d := slices.Clone(s.digests)
	s.mu.Unlock()
	slices.SortFunc(d, func(a, b FileDigest) int { return strings.Compare(a.Path, b.Path) })
	h := sha256.New()
	for _, f := range d {
		fmt.Fprintf(h, "%s  %s\n", f.SHA256, f.Path)
	}
	return d, hex.EncodeToString(h.Sum(nil))
}
