package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/shard"
)

func TestMargin(t *testing.T) {
	cases := []struct {
		logits []float32
		y      int
		want   float64
	}{
		{[]float32{-3, -1, -7}, 1, 2},       // l = 3, 1, 7: min wrong 3 minus 1
		{[]float32{-3, -1, -7}, 0, -2},      // misclassified: 1 - 3
		{[]float32{-10, -10.5, -4}, 2, 6},   // 10 - 4
		{[]float32{-2.25, -2.25, -9}, 0, 0}, // a tie
	}
	for _, c := range cases {
		got, err := margin(c.logits, c.y)
		if err != nil || math.Abs(got-c.want) > 1e-6 {
			t.Errorf("margin(%v, %d) = %g, %v; want %g", c.logits, c.y, got, err, c.want)
		}
	}
	for _, bad := range []struct {
		logits []float32
		y      int
	}{{[]float32{1, 2}, 2}, {[]float32{1}, 0}, {[]float32{1, float32(math.NaN())}, 0}} {
		if _, err := margin(bad.logits, bad.y); err == nil {
			t.Errorf("margin(%v, %d): no error", bad.logits, bad.y)
		}
	}
}

func TestBin(t *testing.T) {
	edges := []float64{0, 5, 10}
	cases := []struct {
		m    float64
		want int
	}{{-1, 0}, {math.Nextafter(0, -1), 0}, {0, 1}, {4.999, 1}, {5, 2}, {9.99, 2}, {10, 3}, {1e9, 3}}
	for _, c := range cases {
		if got := bin(c.m, edges); got != c.want {
			t.Errorf("bin(%g) = %d, want %d (%s)", c.m, got, c.want, binLabel(c.want, edges))
		}
	}
	if _, err := parseEdges("0,5,5"); err == nil {
		t.Error("parseEdges accepted a repeated edge")
	}
	if _, err := parseEdges("0,x"); err == nil {
		t.Error("parseEdges accepted a word")
	}
}

// TestPredictOutOfSample: a model's prediction uses only the other models' rates, worked
// by hand.
func TestPredictOutOfSample(t *testing.T) {
	edges := []float64{10}
	a := &model{name: "a", margins: []float64{1, 2, 20, 30}, robust: []bool{false, true, true, true}} // below: 1/2, above: 2/2
	b := &model{name: "b", margins: []float64{3, 15}, robust: []bool{false, false}}                   // below: 0/1, above: 0/1
	c := &model{name: "c", margins: []float64{4}, robust: []bool{true}}                               // below only
	ms := []*model{a, b, c}
	// a under b+c: below 1/2, above 0/1 -> 2 images x 0.5 + 2 x 0 = 1.
	if p, ok := predict(ms, 0, edges); !ok || math.Abs(p-1) > 1e-12 {
		t.Errorf("a: %g, %v; want 1", p, ok)
	}
	// b under a+c: below 2/3, above 2/2 -> 2/3 + 1.
	if p, ok := predict(ms, 1, edges); !ok || math.Abs(p-(2.0/3+1)) > 1e-12 {
		t.Errorf("b: %g, %v; want 5/3", p, ok)
	}
	// c under a+b: below 1/3.
	if p, ok := predict(ms, 2, edges); !ok || math.Abs(p-1.0/3) > 1e-12 {
		t.Errorf("c: %g, %v; want 1/3", p, ok)
	}
	// Alone, nothing to predict from.
	if _, ok := predict([]*model{a}, 0, edges); ok {
		t.Error("a model alone got a prediction")
	}
}

// TestReadModel pairs a classify result with the committed zoo proxy run by image index
// and refuses mismatched runs.
func TestReadModel(t *testing.T) {
	const proxy = "../../results/mnist/eabs/proxy/proxy-zoo.json"
	a, err := eval.ReadFile(proxy)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, mutate func(*eval.ClassifyResult)) string {
		c := &eval.ClassifyResult{Header: shard.Header{Kind: eval.ClassifyKind, Dataset: a.Header.Dataset, Split: a.Header.Split}}
		// Records in reverse order, logits with margin = index mod 7 for the label.
		for i := len(a.Records) - 1; i >= 0; i-- {
			r := a.Records[i]
			lg := make([]float32, a.Classes)
			for k := range lg {
				lg[k] = -50
			}
			lg[r.Label] = -50 + float32(r.Index%7)
			c.Records = append(c.Records, eval.ClassifyRecord{Index: r.Index, Label: r.Label, Logits: lg})
		}
		if mutate != nil {
			mutate(c)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", nil)
	m, err := readModel("zoo="+good+","+proxy, attackNorm("l2"))
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for i, rec := range a.Records {
		if m.margins[i] != float64(rec.Index%7) {
			t.Fatalf("image %d: margin %g, want %d", rec.Index, m.margins[i], rec.Index%7)
		}
		if m.robust[i] {
			k++
		}
	}
	if k != a.Summary.All[0].Robust.K {
		t.Errorf("%d robust, the run's summary says %d", k, a.Summary.All[0].Robust.K)
	}
	bad := []struct{ name, arg, want string }{
		{"no attack file", "zoo=" + good, "NAME=CLASSIFY.json,ATTACK.json"},
		{"no linf attack", "zoo=" + good + "," + proxy, "no linf attack"},
		{"other split", "zoo=" + write("test.json", func(c *eval.ClassifyResult) { c.Header.Split = "test" }) + "," + proxy, "same images"},
		{"missing image", "zoo=" + write("short.json", func(c *eval.ClassifyResult) { c.Records = c.Records[1:] }) + "," + proxy, "was not classified"},
		{"other label", "zoo=" + write("label.json", func(c *eval.ClassifyResult) { c.Records[0].Label = (c.Records[0].Label + 1) % 10 }) + "," + proxy, "label"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			norm := "l2"
			if c.name == "no linf attack" {
				norm = "linf"
			}
			_, err := readModel(c.arg, attackNorm(norm))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one containing %q", err, c.want)
			}
		})
	}
}

func attackNorm(s string) attack.Norm { return attack.Norm(s) }

// TestReadLosses: l_y, the best wrong class's loss, the margin and the cross-entropy's
// weight of one image, worked by hand: logits -3, -1, -7 (losses 3, 1, 7), label 1.
func TestReadLosses(t *testing.T) {
	c := &eval.ClassifyResult{Header: shard.Header{Kind: eval.ClassifyKind, Dataset: "mnist", Split: "val"},
		Records: []eval.ClassifyRecord{{Index: 4, Label: 1, Logits: []float32{-3, -1, -7}}}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := readLosses("m", path)
	if err != nil {
		t.Fatal(err)
	}
	wantWt := 1 - math.Exp(-1)/(math.Exp(-3)+math.Exp(-1)+math.Exp(-7)) // 0.1195...
	if l.ly[0] != 1 || l.wrong[0] != 3 || l.margin[0] != 2 || math.Abs(l.ceWt[0]-wantWt) > 1e-12 {
		t.Errorf("l_y %g, wrong %g, margin %g, weight %g; want 1, 3, 2, %g", l.ly[0], l.wrong[0], l.margin[0], l.ceWt[0], wantWt)
	}
	var sb strings.Builder
	if err := lossTable(&sb, []losses{l}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "| m | 1 | 1.0 | 3.0 | 2.0 | 0.12 | 0.12 | 100.0% |") {
		t.Errorf("table:\n%s", sb.String())
	}
}
