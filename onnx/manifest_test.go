package onnx_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// TestVerifyExport: an export verifies against its manifest and gives its weights'
// hash; a file changed by one byte, an ONNX file the export did not write, a removed
// file and a missing manifest are each an error naming the file.
func TestVerifyExport(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 1)
	export := func() string {
		dir := t.TempDir()
		if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	got, err := onnx.VerifyExport(export())
	if err != nil || got != onnx.WeightsSHA256(w) {
		t.Fatalf("VerifyExport of a fresh export = %q, %v; want %q", got, err, onnx.WeightsSHA256(w))
	}
	step := onnx.RoleLatentStep + ".onnx"
	for _, c := range []struct {
		name, want string
		spoil      func(dir string) error
	}{
		{"changed byte", step, func(dir string) error {
			p := filepath.Join(dir, step)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 1
			return os.WriteFile(p, b, 0o644)
		}},
		{"extra file", "other.onnx", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "other.onnx"), []byte("x"), 0o644)
		}},
		{"removed file", step, func(dir string) error { return os.Remove(filepath.Join(dir, step)) }},
		{"no manifest", onnx.ManifestFile, func(dir string) error { return os.Remove(filepath.Join(dir, onnx.ManifestFile)) }},
	} {
		dir := export()
		if err := c.spoil(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := onnx.VerifyExport(dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: VerifyExport error %v, want one naming %s", c.name, err, c.want)
		}
	}
}
