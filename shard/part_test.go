package shard

import (
	"fmt"
	"strings"
	"testing"
)

type rec struct{ Pos, Val int }

func (r rec) Position() int { return r.Pos }

// parts splits a run of n records (Val = 10*Pos) into count parts.
func parts(h Header, n, count int) []Part[rec] {
	var out []Part[rec]
	for i := 0; i < count; i++ {
		s := Spec{i, count}
		ph := h
		ph.Shard = s
		var rs []rec
		for _, p := range s.Positions(n) {
			rs = append(rs, rec{p, 10 * p})
		}
		out = append(out, Part[rec]{Name: fmt.Sprintf("part%d.json", i), Header: ph, Samples: rs})
	}
	return out
}

func TestMerge(t *testing.T) {
	h := Header{Kind: "attack", ModelSHA256: "abc", DataFingerprint: "d", Dataset: "mnist", Split: "test", SampleSeed: 1, SampleN: 11, Config: "pgd"}
	for count := 1; count <= 5; count++ {
		// Parts in reverse order: the merge sorts.
		ps := parts(h, 11, count)
		for i, j := 0, len(ps)-1; i < j; i, j = i+1, j-1 {
			ps[i], ps[j] = ps[j], ps[i]
		}
		mh, all, err := Merge(ps)
		if err != nil {
			t.Fatalf("%d parts: %v", count, err)
		}
		if mh.Shard != Whole || len(all) != 11 {
			t.Fatalf("%d parts: shard %v, %d records; want whole, 11", count, mh.Shard, len(all))
		}
		for i, r := range all {
			if r.Pos != i || r.Val != 10*i {
				t.Fatalf("%d parts: record %d = %+v", count, i, r)
			}
		}
	}

	bad := []struct {
		name string
		edit func([]Part[rec]) []Part[rec]
		want string
	}{
		{"missing", func(p []Part[rec]) []Part[rec] { return append(p[:1], p[2:]...) }, "missing shard(s) 1/3"},
		{"duplicate", func(p []Part[rec]) []Part[rec] { return append(p, p[0]) }, "both shard 0/3"},
		{"foreign model", func(p []Part[rec]) []Part[rec] { p[2].Header.ModelSHA256 = "xyz"; return p }, "part2.json does not belong with part0.json: model differs"},
		{"other config", func(p []Part[rec]) []Part[rec] { p[1].Header.Config = "ddn"; return p }, "configuration differs"},
		{"other count", func(p []Part[rec]) []Part[rec] { p[1].Header.Shard = Spec{1, 4}; return p }, "shard count differs"},
		{"truncated", func(p []Part[rec]) []Part[rec] { p[1].Samples = p[1].Samples[1:]; return p }, "part1.json holds"},
	}
	for _, tt := range bad {
		_, _, err := Merge(tt.edit(parts(h, 11, 3)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Merge error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
