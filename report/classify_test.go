package report

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/shard"
)

// classified builds a classification result by hand: image index idx[i] classified
// correctly when ok[i].
func classified(split string, idx []int, ok []bool) *eval.ClassifyResult {
	r := &eval.ClassifyResult{Header: shard.Header{Kind: eval.ClassifyKind, Dataset: "mnist", Split: split}}
	for i, x := range idx {
		pred := 3
		if !ok[i] {
			pred = 4
		}
		r.Records = append(r.Records, eval.ClassifyRecord{Pos: i, Index: x, Label: 3, Pred: pred, Correct: ok[i]})
	}
	return r
}

func TestCompareClassify(t *testing.T) {
	base := classified("val", []int{10, 11, 12, 13, 14, 15, 16, 17}, []bool{false, false, false, false, false, true, true, true})
	// The same images in another order, plus image 99 the baseline did not classify
	// (left out of every count), and one image (16) it gets wrong that the baseline gets right.
	other := classified("val", []int{17, 16, 15, 14, 13, 12, 11, 10, 99}, []bool{true, false, true, true, true, true, true, true, false})
	tab, err := CompareClassify([]string{"beta1", "beta0"}, []*eval.ClassifyResult{base, other})
	if err != nil {
		t.Fatal(err)
	}
	if tab.Shared != 8 {
		t.Fatalf("shared %d images, want 8", tab.Shared)
	}
	// By hand: baseline 3/8; other right on all but 16 and 99: 7/8 of the shared;
	// discordant: only the baseline right on 16 (1), only the other on 10-14 (5).
	// McNemar exact: 2 P(Bin(6, 1/2) <= 1) = 2 * 7/64.
	want := []struct {
		correct, onlyBase, onlyThis int
		p                           float64
	}{{3, 0, 0, 1}, {7, 1, 5, 14.0 / 64}}
	for i, w := range want {
		r := tab.Rows[i]
		if r.Correct != w.correct || r.N != 8 || r.OnlyBase != w.onlyBase || r.OnlyThis != w.onlyThis || math.Abs(r.P-w.p) > 1e-12 {
			t.Errorf("row %s = %+v, want correct %d/8, discordant %d/%d, p %g", r.Name, r, w.correct, w.onlyBase, w.onlyThis, w.p)
		}
		if math.Abs(r.Acc-float64(w.correct)/8) > 1e-12 || !(r.Lo < r.Acc && r.Acc < r.Hi) {
			t.Errorf("row %s: accuracy %g in [%g, %g], want %g inside its interval", r.Name, r.Acc, r.Lo, r.Hi, float64(w.correct)/8)
		}
	}
	var b bytes.Buffer
	if err := tab.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| beta0 | 7/8 | 0.8750 |") {
		t.Errorf("markdown lacks the beta0 row:\n%s", b.String())
	}

	for _, tt := range []struct {
		name string
		rs   []*eval.ClassifyResult
		want string
	}{
		{"other split", []*eval.ClassifyResult{base, classified("test", []int{10}, []bool{true})}, "compare runs of one split"},
		{"no shared image", []*eval.ClassifyResult{base, classified("val", []int{50}, []bool{true})}, "share no image"},
	} {
		if _, err := CompareClassify([]string{"a", "b"}, tt.rs); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}
