package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/eabs/eabs/internal/atomicfile"
)

// ManifestFile is the manifest Export writes beside the ONNX files: the SHA-256 of the
// weights and of every file. A metadata entry alone cannot show that a file's
// initializers were changed after the export; the file's own hash does.
const ManifestFile = "export.json"

// Manifest is the content of ManifestFile.
type Manifest struct {
	Format     string            `json:"format"`
	WeightsSHA string            `json:"weights_sha256"`
	Files      map[string]string `json:"files"` // base name -> hex SHA-256 of its bytes
}

// writeManifest records the files at paths (all in dir) and the weights' hash.
func writeManifest(dir, weightsSHA string, paths []string) error {
	m := Manifest{Format: FormatVersion, WeightsSHA: weightsSHA, Files: map[string]string{}}
	for _, p := range paths {
		h, err := fileSHA256(p)
		if err != nil {
			return err
		}
		m.Files[filepath.Base(p)] = h
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, ManifestFile), append(b, '\n'))
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// VerifyExport checks an export folder against its manifest: every ONNX file the
// manifest lists is there with the bytes it was written with, and there is no ONNX file
// it does not list. It returns the weights' SHA-256 the export was made from. A folder
// without a manifest, a changed or missing file, or an unlisted one is an error naming
// the file.
func VerifyExport(dir string) (weightsSHA string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("onnx: %s has no %s: not an eabs export, or one older than export manifests (export the model again with eabs export --force)", dir, ManifestFile)
	}
	if err != nil {
		return "", err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.WeightsSHA == "" || len(m.Files) == 0 {
		return "", fmt.Errorf("onnx: %s: not a valid export manifest (%v)", filepath.Join(dir, ManifestFile), err)
	}
	names := make([]string, 0, len(m.Files))
	for n := range m.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		got, err := fileSHA256(filepath.Join(dir, n))
		if err != nil {
			return "", fmt.Errorf("onnx: export %s: %w", dir, err)
		}
		if got != m.Files[n] {
			return "", fmt.Errorf("onnx: %s was changed after the export (SHA-256 %s, the manifest says %s)", filepath.Join(dir, n), got, m.Files[n])
		}
	}
	onnxFiles, err := filepath.Glob(filepath.Join(dir, "*.onnx"))
	if err != nil {
		return "", err
	}
	for _, p := range onnxFiles {
		if _, ok := m.Files[filepath.Base(p)]; !ok {
			return "", fmt.Errorf("onnx: %s is not part of the export in %s (its %s does not list it)", p, dir, ManifestFile)
		}
	}
	return m.WeightsSHA, nil
}
