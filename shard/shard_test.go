package shard

import (
	"slices"
	"strings"
	"testing"
)

func env(kv map[string]string) Env { return func(k string) string { return kv[k] } }

func TestParse(t *testing.T) {
	tests := []struct {
		flag  string
		env   map[string]string
		count int
		want  Spec
		err   string
	}{
		{flag: "", want: Whole},
		{flag: "0/1", want: Spec{0, 1}},
		{flag: "2/5", want: Spec{2, 5}},
		{flag: "5/5", err: "0 <= i < n"},
		{flag: "-1/3", err: "0 <= i < n"},
		{flag: "1/0", err: "n >= 1"},
		{flag: "1", err: "want i/n"},
		{flag: "a/b", err: "integers"},
		{flag: "auto", env: map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3"}, want: Spec{1, 3}},
		{flag: "auto", env: map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1"}, err: "--array=0-2"},
		{flag: "auto", env: map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "3"}, err: "0 <= i < n"},
		{flag: "auto", env: map[string]string{"SLURM_ARRAY_TASK_ID": "x"}, err: "not an integer"},
		{flag: "auto", env: map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "1", "SLURM_ARRAY_TASK_MIN": "2"}, count: 3, want: Spec{2, 3}},
		{flag: "auto", env: map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "1", "SLURM_ARRAY_TASK_MIN": "2"}, err: "--shard-count"},
		{flag: "auto", env: map[string]string{"JOB_COMPLETION_INDEX": "2"}, count: 4, want: Spec{2, 4}},
		{flag: "auto", env: map[string]string{"JOB_COMPLETION_INDEX": "2"}, err: "--shard-count"},
		{flag: "auto", env: map[string]string{}, err: "neither"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.flag, env(tt.env), tt.count)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q, %v, %d) error = %v, want one containing %q", tt.flag, tt.env, tt.count, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q, %v, %d) = %v, %v; want %v", tt.flag, tt.env, tt.count, got, err, tt.want)
		}
	}
}

// TestPartition checks that for every count 1..6 the parts of lists of several lengths
// are disjoint, cover the list and are the round-robin positions written out by hand
// for one case.
func TestPartition(t *testing.T) {
	if got, want := (Spec{1, 3}).Positions(8), []int{1, 4, 7}; !slices.Equal(got, want) {
		t.Errorf("Spec{1,3}.Positions(8) = %v, want %v", got, want)
	}
	for _, total := range []int{0, 1, 5, 17} {
		for n := 1; n <= 6; n++ {
			var all []int
			for i := 0; i < n; i++ {
				all = append(all, Spec{i, n}.Positions(total)...)
			}
			slices.Sort(all)
			want := make([]int, total)
			for i := range want {
				want[i] = i
			}
			if !slices.Equal(all, want) && !(total == 0 && len(all) == 0) {
				t.Errorf("total %d, %d parts: union %v, want %v", total, n, all, want)
			}
		}
	}
	if got := Pick(Spec{0, 2}, []string{"a", "b", "c"}); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("Pick = %v", got)
	}
	if got := Missing(4, []int{0, 2, 2}); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("Missing(4, [0 2 2]) = %v, want [1 3]", got)
	}
}

func TestPartPath(t *testing.T) {
	tests := []struct {
		out  string
		sp   Spec
		want string
	}{
		{"r/a.json", Whole, "r/a.json"},
		{"r/a.json", Spec{Index: 1, Count: 4}, "r/a.shard-1-of-4.json"},
		{"r/a", Spec{Index: 0, Count: 2}, "r/a.shard-0-of-2"},
		{"r/a.part-{shard}.json", Spec{Index: 2, Count: 3}, "r/a.part-2-of-3.json"},
		{"r/a.part-{shard}.json", Whole, "r/a.part-0-of-1.json"},
		{"-", Spec{Index: 1, Count: 4}, "-"},
	}
	for _, tt := range tests {
		if got := tt.sp.PartPath(tt.out); got != tt.want {
			t.Errorf("%s.PartPath(%q) = %q, want %q", tt.sp, tt.out, got, tt.want)
		}
	}
}

// TestCompatibleShowsTheDifference: headers whose configurations differ late in a long
// text name the setting that differs, not a shared prefix.
func TestCompatibleShowsTheDifference(t *testing.T) {
	base := "e-abs adaptive gradient (eq. 8) EOT 5 warm steps 0 restart 5 changed 5, verdict full inference EOT 5, runtime ort"
	a := Header{Kind: "attack", Config: base + ", seed 1"}
	b := Header{Kind: "attack", Config: base + ", seed 2"}
	err := a.Compatible(b)
	if err == nil || !strings.Contains(err.Error(), "seed 1") || !strings.Contains(err.Error(), "seed 2") {
		t.Errorf("Compatible = %v, want the differing settings shown", err)
	}
	if _, err := Parse("auto", func(k string) string { return map[string]string{"SLURM_ARRAY_TASK_ID": "1"}[k] }, 0); err == nil || !strings.Contains(err.Error(), "--shard-count") {
		t.Errorf("Slurm without a task count: %v, want advice to pass --shard-count", err)
	}
}
