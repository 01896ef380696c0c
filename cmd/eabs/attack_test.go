package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eabs/eabs/eval"
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
	w, err := eval.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	m, err := eval.ReadFile(merged)
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
	if err != nil || !strings.Contains(out, "| mnist-cnn | 7 |") {
		t.Errorf("report: %v\n%s", err, out)
	}
	if out, err := run(t, "report", merged, "--names", "CNN (zoo)"); err != nil || !strings.Contains(out, "| CNN (zoo) | 7 |") {
		t.Errorf("report --names: %v\n%s", err, out)
	}
	if _, err := run(t, "report", merged, "--names", "a,b"); err == nil || !strings.Contains(err.Error(), "2 names for 1 result files") {
		t.Errorf("report --names with two names for one file: %v", err)
	}
	for _, f := range []string{"table.md", "table.csv", "table.tex", "mcnemar.csv", "curve-l2.png", "curve-linf.svg", "grid-mnist-cnn-l2.png"} {
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
	w, err := eval.ReadClassify(whole)
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
		m, err := eval.ReadClassify(merged)
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

// TestPGDKeepGoingAuto: --pgd-keep-going auto turns PGD's KeepGoing on for E-ABS (a
// randomised model) and off for a CNN, and the choice is recorded in the results file;
// so is --verdict-retries, per attack (auto: 3 for E-ABS, 0 for a CNN).
func TestPGDKeepGoingAuto(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the MNIST E-ABS")
	}
	dir := t.TempDir()
	for _, c := range []struct {
		model, flag string
		want        bool
		retries     int // --verdict-retries; -1: auto
		wantRetries int // what the results file records
	}{
		{"zoo:mnist-eabs", "auto", true, -1, 3},
		{"zoo:mnist-cnn", "auto", false, -1, 0},
		{"zoo:mnist-cnn", "on", true, 2, 2},
	} {
		out := filepath.Join(dir, strings.ReplaceAll(c.model, ":", "-")+"-"+c.flag+".json")
		args := []string{"attack", c.model, "--dataset", "mnist-sample", "--n", "1", "--attacks", "pgd-l2", "--pgd-steps", "1", "--pgd-restarts", "1",
			"--sweep-n", "0", "--eot", "1", "--verdict-eot", "1", "--starts", "20", "--infer-steps", "2", "--pgd-keep-going", c.flag, "--out", out,
			"--verdict-retries", fmt.Sprint(c.retries)}
		if o, err := run(t, args...); err != nil {
			t.Fatalf("%s --pgd-keep-going %s: %v\n%s", c.model, c.flag, err, o)
		}
		r, err := eval.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`"KeepGoing":%v`, c.want)
		if got := r.Settings.Attacks[0].Options; !strings.Contains(got, want) {
			t.Errorf("%s --pgd-keep-going %s: options %s, want %s", c.model, c.flag, got, want)
		}
		if got := r.Settings.Attacks[0].Retries; got != c.wantRetries {
			t.Errorf("%s --verdict-retries %d: the results record %d, want %d", c.model, c.retries, got, c.wantRetries)
		}
		// The E-ABS attacker's inference counts are in the provenance: on the one
		// image, EOT 1, one full search (the gradient at the random start) and one
		// warm start from its optimum (the evaluation after the one step of 2.5 x 1.5,
		// farther than the warm start's MaxMove, answered by the restart steps).
		pb, _ := json.Marshal(r.Provenance)
		has := strings.Contains(string(pb), `"attacker_inference":{"forced":0,"full":1,`) && strings.Contains(string(pb), `"restarted":1,`)
		if has != (c.model == "zoo:mnist-eabs") {
			t.Errorf("%s: provenance %s; want the attacker's inference counts (1 full search, 1 restarted) for E-ABS only", c.model, pb)
		}
	}
}

// TestAttackReuseCLI: eabs attack --reuse SMALL --n N gives the file a fresh run on N
// samples would (eabs report --same), taking the other settings from SMALL; a run to
// reuse of another configuration is refused, naming it.
func TestAttackReuseCLI(t *testing.T) {
	dir := t.TempDir()
	common := []string{"attack", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--batch", "2", "--pgd-steps", "3", "--pgd-restarts", "1", "--sweep-n", "2", "--keep", "2", "--attacks", "pgd-l2,pgd-linf"}
	whole, small, grown := filepath.Join(dir, "whole.json"), filepath.Join(dir, "small.json"), filepath.Join(dir, "grown.json")
	if out, err := run(t, append(common, "--n", "7", "--out", whole)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := run(t, append(common, "--n", "3", "--out", small)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := run(t, "attack", "zoo:mnist-cnn", "--reuse", small, "--n", "7", "--attacks", "pgd-l2,pgd-linf", "--pgd-steps", "3", "--pgd-restarts", "1", "--out", grown); err != nil {
		t.Fatalf("--reuse: %v\n%s", err, out)
	}
	if out, err := run(t, "report", "--same", whole, grown); err != nil {
		t.Errorf("the grown run differs from the whole run: %v\n%s", err, out)
	}
	g, err := eval.ReadFile(grown)
	if err != nil {
		t.Fatal(err)
	}
	if pb, _ := json.Marshal(g.Provenance); !strings.Contains(string(pb), `"reuse":{"file":"`+small+`","provenance":{`) {
		t.Errorf("the grown run's provenance does not name the run it reused: %s", pb)
	}
	_, err = run(t, "attack", "zoo:mnist-cnn", "--reuse", small, "--n", "7", "--attacks", "pgd-l2,pgd-linf", "--pgd-steps", "4", "--pgd-restarts", "1", "--out", filepath.Join(dir, "bad.json"))
	if err == nil || !strings.Contains(err.Error(), "differs in attacks") {
		t.Errorf("growing a run of other PGD steps: %v, want the attacks named", err)
	}
}

// TestAttackAfterCLI: eabs attack --after A --attacks B gives the file a run of A's
// attacks and B would (eabs report --same), taking the sample and run settings from A;
// a continuation with another seed is refused.
func TestAttackAfterCLI(t *testing.T) {
	dir := t.TempDir()
	common := []string{"attack", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "6", "--batch", "3", "--pgd-steps", "3", "--pgd-restarts", "1", "--sweep-n", "2", "--keep", "2"}
	whole, first, cont := filepath.Join(dir, "whole.json"), filepath.Join(dir, "first.json"), filepath.Join(dir, "cont.json")
	if out, err := run(t, append(common, "--attacks", "pgd-l2,ddn,pgd-linf", "--out", whole)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := run(t, append(common, "--attacks", "pgd-l2", "--out", first)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Only the model and the new attacks: the rest comes from first.json.
	if out, err := run(t, "attack", "zoo:mnist-cnn", "--after", first, "--attacks", "ddn,pgd-linf", "--pgd-steps", "3", "--pgd-restarts", "1", "--out", cont); err != nil {
		t.Fatalf("--after: %v\n%s", err, out)
	}
	if out, err := run(t, "report", "--same", whole, cont); err != nil {
		t.Errorf("the continued run differs from the whole run: %v\n%s", err, out)
	}
	// --n 4: the continuation of the first 4 samples is the whole run on 4.
	whole4, cont4 := filepath.Join(dir, "whole4.json"), filepath.Join(dir, "cont4.json")
	if out, err := run(t, append(append([]string{}, common...), "--n", "4", "--attacks", "pgd-l2,ddn,pgd-linf", "--out", whole4)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := run(t, "attack", "zoo:mnist-cnn", "--after", first, "--n", "4", "--attacks", "ddn,pgd-linf", "--pgd-steps", "3", "--pgd-restarts", "1", "--out", cont4); err != nil {
		t.Fatalf("--after --n 4: %v\n%s", err, out)
	}
	if out, err := run(t, "report", "--same", whole4, cont4); err != nil {
		t.Errorf("the continuation of the first 4 samples differs from the whole run on 4: %v\n%s", err, out)
	}
	_, err := run(t, "attack", "zoo:mnist-cnn", "--after", first, "--attacks", "ddn", "--seed", "9", "--out", filepath.Join(dir, "bad.json"))
	if err == nil || !strings.Contains(err.Error(), "seed") {
		t.Errorf("a continuation with another seed: %v, want the seed named", err)
	}
}

// TestAttackInferBeta: --infer-beta replaces the prior weight of the inference the
// attacker and the verdict run: the model's own beta gives the same run as without the
// flag (candidates bit for bit), beta 0 other gradients and so other candidates, and the
// configuration records the override; a CNN refuses it.
func TestAttackInferBeta(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the MNIST E-ABS")
	}
	dir := t.TempDir()
	attack := func(extra ...string) *eval.Result {
		t.Helper()
		p := filepath.Join(dir, strings.Join(extra, "")+"a.json")
		args := append([]string{"attack", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "2", "--attacks", "pgd-l2", "--eps-l2", "6", "--pgd-steps", "5", "--pgd-restarts", "1",
			"--eot", "1", "--verdict-eot", "1", "--starts", "20", "--infer-steps", "2", "--sweep-n", "0", "--keep", "2", "--runtime", "ref", "--out", p}, extra...)
		if out, err := run(t, args...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		r, err := eval.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	advs := func(r *eval.Result) []float32 {
		var v []float32
		for _, rec := range r.Records {
			for _, a := range rec.Attacks {
				v = append(v, a.Adv...)
			}
		}
		return v
	}
	base, one, zero := attack(), attack("--infer-beta", "1"), attack("--infer-beta", "0")
	if len(advs(base)) == 0 {
		t.Fatal("no candidates kept: the test cannot compare runs")
	}
	if !slices.Equal(advs(base), advs(one)) {
		t.Errorf("--infer-beta 1 (the model's) changed the candidates")
	}
	if slices.Equal(advs(base), advs(zero)) {
		t.Errorf("--infer-beta 0 left the candidates as they were")
	}
	// The configuration (hashed into the header) records the override: a run with
	// another beta is never continued or merged as the model's own.
	if base.Header.Config == zero.Header.Config || base.Header.Config == one.Header.Config {
		t.Errorf("configurations %q, %q (beta 1) and %q (beta 0): want the override recorded", base.Header.Config, one.Header.Config, zero.Header.Config)
	}
	if _, err := run(t, "attack", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "2", "--infer-beta", "0", "--out", filepath.Join(dir, "cnn.json")); err == nil || !strings.Contains(err.Error(), "inference beta applies to generative models") {
		t.Errorf("--infer-beta on a CNN: %v, want it refused", err)
	}
}
