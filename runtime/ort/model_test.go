package ort

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/runtimetest"
)

func TestModelConformance(t *testing.T) {
	initORT(t)
	runtimetest.Run(t, func(t *testing.T, w *models.Weights) runtime.Model {
		dir := t.TempDir()
		if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		m, err := OpenModel(dir, Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}, runtimetest.Tolerances{Value: 1e-5, Grad: 1e-4})
}

func TestOpenModelRefusesBadExports(t *testing.T) {
	initORT(t)
	w := runtimetest.Weights(t, "eabs", 1)
	good := t.TempDir()
	if _, err := onnx.Export(w, good, onnx.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if _, err := onnx.Export(runtimetest.Weights(t, "eabs", 2), other, onnx.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	abs := t.TempDir()
	if _, err := onnx.Export(runtimetest.Weights(t, "abs", 1), abs, onnx.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"missing file", func(dir string) { os.Remove(filepath.Join(dir, "latent_step.onnx")) }, "latent_step"},
		{"corrupt", func(dir string) {
			os.WriteFile(filepath.Join(dir, "decoders.onnx"), []byte("\x08\x07garbage bytes that are not a model"), 0o644)
		}, "decoders.onnx"},
		{"truncated", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "encoder.onnx"))
			os.WriteFile(filepath.Join(dir, "encoder.onnx"), b[:len(b)/2], 0o644)
		}, "encoder.onnx"},
		{"no eabs metadata", func(dir string) {
			copyTo(t, filepath.Join("testdata", "add_mul.onnx"), filepath.Join(dir, "encoder.onnx"))
		}, "metadata"},
		{"other weights", func(dir string) {
			copyTo(t, filepath.Join(other, "decoders.onnx"), filepath.Join(dir, "decoders.onnx"))
		}, "other weights"},
		{"other architecture", func(dir string) {
			copyTo(t, filepath.Join(abs, "latent_step.onnx"), filepath.Join(dir, "latent_step.onnx"))
		}, "latent_step.onnx"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		for _, f := range []string{"encoder.onnx", "decoders.onnx", "discriminator.onnx", "latent_step.onnx"} {
			copyTo(t, filepath.Join(good, f), filepath.Join(dir, f))
		}
		c.setup(dir)
		m, err := OpenModel(dir, Options{IntraOpThreads: 1})
		if err == nil {
			m.Close()
			t.Errorf("%s: OpenModel succeeded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
