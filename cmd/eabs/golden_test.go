package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/runtime/ort"
)

var update = flag.Bool("update", false, "rewrite the golden result files of TestGoldenResults")

// TestGoldenResults runs small fixed classify, attack, certify and smoothing commands and
// compares their result files with testdata/golden/, everything but what changes from
// run to run (times, provenance): numbers within goldenTol (OpenBLAS's kernels for
// other CPUs round differently, scripts/test.sh runs several), the rest exactly. A
// restructuring of the code must leave them
// identical; a change meant to alter results rewrites them with -update and says why
// in its commit.
func TestGoldenResults(t *testing.T) {
	if _, err := ort.LibraryPath(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	cases := []struct {
		name string
		args []string
	}{
		{"classify-cnn", []string{"classify", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "12", "--shard", "0/1"}},
		{"classify-eabs", []string{"classify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "3", "--shard", "0/1", "--starts", "200", "--infer-steps", "5"}},
		{"attack-cnn", []string{"attack", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "6", "--attacks", "pgd-l2,pgd-linf", "--pgd-steps", "5", "--pgd-restarts", "1", "--sweep-n", "2", "--keep", "1"}},
		{"attack-eabs", []string{"attack", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "2", "--attacks", "pgd-l2", "--pgd-steps", "2", "--pgd-restarts", "1", "--sweep-n", "0", "--keep", "0",
			"--starts", "100", "--infer-steps", "3", "--eot", "1", "--verdict-eot", "1"}},
		{"certify-eabs", []string{"certify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "2", "--restarts", "1", "--infer-steps", "5", "--starts", "200"}},
		{"certify-smoothing", []string{"certify", "--smoothing", "0.25", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "3", "--samples", "200", "--n0", "20"}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name+".json")
			if o, err := run(t, append(c.args, "--out", out)...); err != nil {
				t.Fatalf("eabs %v: %v\n%s", c.args, err, o)
			}
			got := stableJSON(t, out)
			golden := filepath.Join("testdata", "golden", c.name+".json")
			if *update {
				b, err := json.MarshalIndent(got, "", " ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if d := diffJSON("", got, stableJSON(t, golden)); d != "" {
				t.Errorf("eabs %v: the result differs from %s at %s", c.args, golden, d)
			}
		})
	}
}

// volatile are the keys of a result file that differ between runs of the same command:
// wall times, the provenance (command line, build, time) and paths of the machine.
var volatile = map[string]bool{"seconds": true, "seconds_per_image": true, "images_per_second": true, "provenance": true,
	"command": true, "build": true, "time": true, "model_path": true, "bank_seconds": true, "search_seconds": true,
	"optimise_seconds": true, "attacker_inference": true, "cpu_seconds": true, "timing": true}

// goldenTol is the relative (and, near 0, absolute) agreement of golden numbers: float32
// rounding in another summation order, a few steps of an attack deep.
const goldenTol = 1e-4

// diffJSON describes the first place where got and want differ (numbers beyond
// goldenTol), or returns "".
func diffJSON(at string, got, want any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: %v, want %v", at, keys(got), keys(want))
		}
		for k, wv := range w {
			if d := diffJSON(at+"."+k, g[k], wv); d != "" {
				return d
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: %d values, want %d", at, lenOf(got), len(w))
		}
		for i := range w {
			if d := diffJSON(fmt.Sprintf("%s[%d]", at, i), g[i], w[i]); d != "" {
				return d
			}
		}
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > goldenTol*math.Max(1, math.Abs(w)) {
			return fmt.Sprintf("%s: %v, want %v", at, got, want)
		}
	default:
		if !reflect.DeepEqual(got, want) {
			return fmt.Sprintf("%s: %v, want %v", at, got, want)
		}
	}
	return ""
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func lenOf(v any) int {
	a, _ := v.([]any)
	return len(a)
}

// stableJSON reads a JSON file without its volatile keys, at every depth.
func stableJSON(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var strip func(v any) any
	strip = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if volatile[k] {
					delete(x, k)
					continue
				}
				x[k] = strip(e)
			}
		case []any:
			for i, e := range x {
				x[i] = strip(e)
			}
		}
		return v
	}
	return strip(v)
}
