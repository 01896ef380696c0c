package cli

import (
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/shard"
	"github.com/eabs/eabs/suite"
)

// TestAttackShardsMergeCLI runs eabs attack on the zoo CNN whole and in 3 shards,
// merges the parts with eabs report --merge and requires the merged records to equal
// the whole run's; a missing part is refused by name; the report reads the result.
func TestAttackShardsMergeCLI(t *testing.T) {
	dir := t.TempDir()
	common := []string{"attack", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "7", "--batch", "3", "--pgd-steps", "3", "--pgd-restarts", "1", "--sweep-n", "2", "--keep", "2"}
	whole := filepath.Join(dir, "whole.json")
	if out, err := run(t, append(common, "--out", whole)...); err != nil {
		t.Fatalf("attack: %v\n%s", err, out)
	}
	if _, err := os.Stat(whole + ".state"); !os.IsNotExist(err) {
		t.Errorf("the finished run left its state file (%v)", err)
	}
	var parts []string
	for i := 0; i < 3; i++ {
		sp := []string{"--shard", []string{"0/3", "1/3", "2/3"}[i], "--out", filepath.Join(dir, "part.json")}
		if out, err := run(t, append(common, sp...)...); err != nil {
			t.Fatalf("attack shard %d: %v\n%s", i, err, out)
		}
		parts = append(parts, filepath.Join(dir, "part.shard-"+[]string{"0", "1", "2"}[i]+"-of-3.json"))
	}
	merged := filepath.Join(dir, "merged.json")
	if out, err := run(t, append([]string{"report", "--merge", "--out", merged}, parts...)...); err != nil {
		t.Fatalf("merge: %v\n%s", err, out)
	}
	w, err := suite.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	m, err := suite.ReadFile(merged)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Records) != 7 || !reflect.DeepEqual(w.Records, m.Records) || w.Header != m.Header {
		t.Errorf("merged shards differ from the whole run (%d vs %d records)", len(m.Records), len(w.Records))
	}
	out, err := run(t, "report", "--merge", "--out", filepath.Join(dir, "x.json"), parts[0], parts[2])
	if err == nil || !strings.Contains(err.Error(), "missing shard(s) 1/3") {
		t.Errorf("merge without shard 1: %v\n%s", err, out)
	}
	out, err = run(t, "report", merged, "--out-dir", filepath.Join(dir, "rep"))
	if err != nil || !strings.Contains(out, "| cnn | 7 |") {
		t.Errorf("report: %v\n%s", err, out)
	}
	for _, f := range []string{"table.md", "table.csv", "table.tex", "mcnemar.csv", "curve-l2.png", "curve-linf.svg", "grid-cnn-l2.png"} {
		if _, err := os.Stat(filepath.Join(dir, "rep", f)); err != nil {
			t.Errorf("report wrote no %s", f)
		}
	}
}

func TestClassifyShardsMergeCLI(t *testing.T) {
	dir := t.TempDir()
	common := []string{"classify", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "9", "--batch", "2"}
	whole := filepath.Join(dir, "whole.json")
	if out, err := run(t, append(common, "--shard", "0/1", "--json", whole)...); err != nil {
		t.Fatalf("classify: %v\n%s", err, out)
	}
	w, err := suite.ReadClassify(whole)
	if err != nil {
		t.Fatal(err)
	}
	for n := 2; n <= 4; n++ {
		var parts []string
		for i := 0; i < n; i++ {
			out := filepath.Join(dir, "c{shard}.json")
			spec := strings.Join([]string{itoa(i), itoa(n)}, "/")
			if o, err := run(t, append(common, "--shard", spec, "--json", out)...); err != nil {
				t.Fatalf("classify --shard %s: %v\n%s", spec, err, o)
			}
			parts = append(parts, filepath.Join(dir, "c"+itoa(i)+"-of-"+itoa(n)+".json"))
		}
		merged := filepath.Join(dir, "m.json")
		if out, err := run(t, append([]string{"report", "--merge", "--out", merged}, parts...)...); err != nil {
			t.Fatalf("merge: %v\n%s", err, out)
		}
		m, err := suite.ReadClassify(merged)
		if err != nil || !reflect.DeepEqual(m.Records, w.Records) || *m.Accuracy != *w.Accuracy {
			t.Errorf("%d classify shards merged differ from the whole run (%v)", n, err)
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestAttackFlagErrors(t *testing.T) {
	// --shard auto must see no job engine, even inside a Slurm job.
	t.Setenv("SLURM_ARRAY_TASK_ID", "")
	t.Setenv("JOB_COMPLETION_INDEX", "")
	dir := t.TempDir()
	base := []string{"attack", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--out", filepath.Join(dir, "r.json")}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--n", "0"}, "--n 0: must be at least 1"},
		{[]string{"--n", "101"}, "--n 101: want 1..100"},
		{[]string{"--batch", "0"}, "--batch 0"},
		{[]string{"--attack-batch", "-1"}, "--attack-batch -1"},
		{[]string{"--eps-linf", "1.5"}, "--eps-linf 1.5"},
		{[]string{"--eps-l2", "-1"}, "--eps-l2 -1"},
		{[]string{"--eot", "0"}, "--eot 0"},
		{[]string{"--verdict-eot", "0"}, "--verdict-eot 0"},
		{[]string{"--sweep-n", "-2"}, "--sweep-n -2"},
		{[]string{"--sweep-factors", "0.5"}, "--sweep-factors"},
		{[]string{"--pgd-steps", "0"}, "--pgd-steps 0"},
		{[]string{"--attacks", "pgd-l3"}, `unknown attack "pgd-l3"`},
		{[]string{"--attacks", ","}, "no attack given"},
		{[]string{"--attacks", "pgd-l2,pgd-l2"}, "pgd-l2 listed twice"},
		{[]string{"--shard", "3/3"}, "--shard"},
		{[]string{"--shard", "auto"}, "neither SLURM_ARRAY_TASK_ID"},
		{[]string{"--shard", "5/6", "--n", "3"}, "shard 5/6 of 3 samples is empty"},
	}
	for _, tt := range tests {
		out, err := run(t, append(base, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one containing %q\n%s", tt.args, err, tt.want, out)
		}
	}
	if _, err := run(t, "attack", "zoo:mnist-cnn", "--dataset", "mnist-sample"); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("no --out: %v", err)
	}
}

// TestCNNLogitsVJP checks the CNN's vector-Jacobian product from cross-entropy
// gradients against central finite differences of <v, logits(x)> in float64 on the
// reference graph (zoo CNN, two images, a random zero-sum cotangent per image).
func TestCNNLogitsVJP(t *testing.T) {
	w, _, _, err := loadWeights("zoo:mnist-cnn")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ref.NewClassifier(w)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := cnnModel{c}
	set, err := loadSet(io.Discard, "mnist-sample", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	const batch = 2
	P, K := set.ImageSize(), m.Classes()
	x := append([]float32(nil), set.Images[:batch*P]...)
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, batch*K)
	for b := 0; b < batch; b++ {
		var s float32
		for k := 0; k < K; k++ {
			v[b*K+k] = float32(rng.NormFloat64())
			s += v[b*K+k]
		}
		for k := 0; k < K; k++ {
			v[b*K+k] -= s / float32(K)
		}
	}
	logits, g, err := m.LogitsVJP(x, batch, func([]float32) []float32 { return v })
	if err != nil {
		t.Fatal(err)
	}
	want, _ := m.Logits(x, batch)
	if !slices.Equal(logits, want) {
		t.Fatalf("VJP logits differ from Logits")
	}
	dot := func(x []float32) float64 {
		l, err := m.Logits(x, batch)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for i := range l {
			s += float64(l[i]) * float64(v[i])
		}
		return s
	}
	// Pixels with the largest gradient, where the finite difference is well above the
	// float32 rounding of the logits.
	const h = 1e-2
	for _, j := range []int{topIndex(g[:P]), P + topIndex(g[P:])} {
		xp, xm := slices.Clone(x), slices.Clone(x)
		xp[j] += h
		xm[j] -= h
		fd := (dot(xp) - dot(xm)) / (2 * h)
		if math.Abs(fd-float64(g[j])) > 2e-2*math.Abs(fd)+1e-3 {
			t.Errorf("pixel %d: VJP %g, finite difference %g", j, g[j], fd)
		}
	}
	// A cotangent that does not sum to zero is refused.
	if _, _, err := m.LogitsVJP(x, batch, func(l []float32) []float32 { return make([]float32, len(l)) }); err != nil {
		t.Errorf("zero cotangent refused: %v", err)
	}
	ones := make([]float32, batch*K)
	for i := range ones {
		ones[i] = 1
	}
	if _, _, err := m.LogitsVJP(x, batch, func([]float32) []float32 { return ones }); err == nil || !strings.Contains(err.Error(), "shift-invariant") {
		t.Errorf("an all-ones cotangent: %v", err)
	}
}

func topIndex(g []float32) int {
	best := 0
	for i, v := range g {
		if math.Abs(float64(v)) > math.Abs(float64(g[best])) {
			best = i
		}
	}
	return best
}

func TestPartPath(t *testing.T) {
	tests := []struct {
		out  string
		sp   shard.Spec
		want string
	}{
		{"r/a.json", shard.Whole, "r/a.json"},
		{"r/a.json", shard.Spec{Index: 1, Count: 4}, "r/a.shard-1-of-4.json"},
		{"r/a", shard.Spec{Index: 0, Count: 2}, "r/a.shard-0-of-2"},
		{"r/a.part-{shard}.json", shard.Spec{Index: 2, Count: 3}, "r/a.part-2-of-3.json"},
		{"r/a.part-{shard}.json", shard.Whole, "r/a.part-0-of-1.json"},
	}
	for _, tt := range tests {
		if got := partPath(tt.out, tt.sp); got != tt.want {
			t.Errorf("partPath(%q, %s) = %q, want %q", tt.out, tt.sp, got, tt.want)
		}
	}
}
