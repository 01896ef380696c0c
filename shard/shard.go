// Package shard splits a seeded sample set deterministically into the parts that the
// tasks of a cluster job (a Slurm job array, a Kubernetes Indexed Job) evaluate, and
// names a part so that result files from different tasks can be checked to belong
// together before they are merged.
//
// Part i of n holds the positions i, i+n, i+2n, ... of the sample list: every part gets
// an equal share of each stretch of the list (no part collects all the slow images of
// one region), the parts are disjoint and together they are the whole list, and the
// split depends on nothing but (i, n, len(list)).
package shard

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Spec is one part of a sharded run: part Index of Count (0 <= Index < Count).
// The zero value is not valid; Whole is the unsharded run.
type Spec struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Whole is the run that is not split: part 0 of 1.
var Whole = Spec{Index: 0, Count: 1}

// String is "i/n", the form Parse reads.
func (s Spec) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Sharded reports whether s is a proper part (Count > 1).
func (s Spec) Sharded() bool { return s.Count > 1 }

// Valid reports whether 0 <= Index < Count.
func (s Spec) Valid() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard: %d/%d: want i/n with n >= 1 and 0 <= i < n", s.Index, s.Count)
	}
	return nil
}

// Env is what Parse reads "auto" from: os.Getenv in the CLI, a map in tests.
type Env func(key string) string

// Parse reads a shard flag: "" (the whole run), "i/n", or "auto", which takes the index
// and count from the job engine: Slurm's SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT
// (a job array --array=0-(n-1)), else Kubernetes' JOB_COMPLETION_INDEX of an Indexed Job.
// count (the CLI's --shard-count; <= 0: not given) overrides the task count: Kubernetes
// does not put the Job's completions in the environment, and a Slurm rerun of some failed
// tasks (--array=2,5) is an array whose own count is not the run's.
func Parse(flag string, getenv Env, count int) (Spec, error) {
	switch flag {
	case "":
		return Whole, nil
	case "auto":
		return fromEnv(getenv, count)
	}
	i, n, ok := strings.Cut(flag, "/")
	if !ok {
		return Spec{}, fmt.Errorf("shard %q: want i/n (e.g. 0/4) or auto", flag)
	}
	si, err1 := strconv.Atoi(strings.TrimSpace(i))
	sn, err2 := strconv.Atoi(strings.TrimSpace(n))
	if err1 != nil || err2 != nil {
		return Spec{}, fmt.Errorf("shard %q: want i/n with integers (e.g. 0/4)", flag)
	}
	s := Spec{Index: si, Count: sn}
	return s, s.Valid()
}

func fromEnv(getenv Env, count int) (Spec, error) {
	if getenv == nil {
		return Spec{}, fmt.Errorf("shard auto: no environment to read")
	}
	if id := getenv("SLURM_ARRAY_TASK_ID"); id != "" {
		i, err := strconv.Atoi(id)
		if err != nil {
			return Spec{}, fmt.Errorf("shard auto: SLURM_ARRAY_TASK_ID=%q is not an integer", id)
		}
		c := count
		if c <= 0 {
			// The count from the array itself: only meaningful for --array=0-(n-1). A
			// rerun of some failed tasks (--array=2,5) must pass the count.
			n := getenv("SLURM_ARRAY_TASK_COUNT")
			if n == "" {
				return Spec{}, fmt.Errorf("shard auto: Slurm set SLURM_ARRAY_TASK_ID but not SLURM_ARRAY_TASK_COUNT (an array submitted as a list, or an old Slurm): pass --shard-count")
			}
			if c, err = strconv.Atoi(n); err != nil {
				return Spec{}, fmt.Errorf("shard auto: SLURM_ARRAY_TASK_COUNT=%q is not an integer", n)
			}
			if min := getenv("SLURM_ARRAY_TASK_MIN"); min != "" && min != "0" {
				return Spec{}, fmt.Errorf("shard auto: the job array starts at %s; submit it as --array=0-%d or pass --shard-count", min, c-1)
			}
		}
		s := Spec{Index: i, Count: c}
		if err := s.Valid(); err != nil {
			return Spec{}, fmt.Errorf("shard auto (Slurm): %w", err)
		}
		return s, nil
	}
	if id := getenv("JOB_COMPLETION_INDEX"); id != "" {
		i, err := strconv.Atoi(id)
		if err != nil {
			return Spec{}, fmt.Errorf("shard auto: JOB_COMPLETION_INDEX=%q is not an integer", id)
		}
		if count <= 0 {
			return Spec{}, fmt.Errorf("shard auto: Kubernetes gives JOB_COMPLETION_INDEX=%d but not the count; pass --shard-count (the Job's completions)", i)
		}
		s := Spec{Index: i, Count: count}
		if err := s.Valid(); err != nil {
			return Spec{}, fmt.Errorf("shard auto (Kubernetes): %w", err)
		}
		return s, nil
	}
	return Spec{}, fmt.Errorf("shard auto: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set (not inside a job array or Indexed Job); use --shard i/n")
}

// Positions returns the positions of a list of length total that part s holds:
// s.Index, s.Index+s.Count, ... (in increasing order).
func (s Spec) Positions(total int) []int {
	if s.Valid() != nil || total <= 0 {
		return nil
	}
	out := make([]int, 0, (total-s.Index+s.Count-1)/s.Count)
	for p := s.Index; p < total; p += s.Count {
		out = append(out, p)
	}
	return out
}

// Pick returns the elements of list at s.Positions(len(list)).
func Pick[T any](s Spec, list []T) []T {
	pos := s.Positions(len(list))
	out := make([]T, len(pos))
	for j, p := range pos {
		out[j] = list[p]
	}
	return out
}

// Missing returns, in increasing order, the indices in [0, count) absent from have.
func Missing(count int, have []int) []int {
	seen := make([]bool, count)
	for _, i := range have {
		if i >= 0 && i < count {
			seen[i] = true
		}
	}
	var out []int
	for i, ok := range seen {
		if !ok {
			out = append(out, i)
		}
	}
	return out
}

// PartPath is where this part of a run that writes out puts its results: out with
// "{shard}" replaced by "i-of-n" (also "0-of-1" for the whole run), else out itself for
// the whole run and out with ".shard-i-of-n" before the extension for a part. "-"
// (standard output) stays.
func (s Spec) PartPath(out string) string {
	if out == "" || out == "-" {
		return out
	}
	tag := fmt.Sprintf("%d-of-%d", s.Index, s.Count)
	if strings.Contains(out, "{shard}") {
		return strings.ReplaceAll(out, "{shard}", tag)
	}
	if !s.Sharded() {
		return out
	}
	ext := filepath.Ext(out)
	return strings.TrimSuffix(out, ext) + ".shard-" + tag + ext
}
