package shard

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Header says which run a result file belongs to and which part of it it holds. Two
// parts may be merged only when everything but Shard is equal: the same kind of
// evaluation of the same model weights on the same data bytes and the same sample
// list, with the same configuration.
type Header struct {
	// Kind is the evaluation: "attack", "classify", "certify", ...
	Kind string `json:"kind"`
	// ModelSHA256 identifies the weights (onnx.WeightsSHA256 or the file's SHA-256).
	ModelSHA256 string `json:"model_sha256"`
	// DataFingerprint identifies the bytes of the dataset read (data.Fingerprint).
	DataFingerprint string `json:"data_fingerprint"`
	Dataset         string `json:"dataset"`
	Split           string `json:"split"`
	// SampleSeed and SampleN name the sample list (data.SampleIndices); SampleN is the
	// list's whole length, not this part's.
	SampleSeed uint64 `json:"sample_seed"`
	SampleN    int    `json:"sample_n"`
	// Config is a canonical description (or hash) of every setting that changes
	// results: attacks and budgets, inference options, seeds.
	Config string `json:"config"`
	Shard  Spec   `json:"shard"`
}

// Compatible returns nil when h and o are parts of the same run (everything but the
// shard index equal), else an error naming the first field that differs.
func (h Header) Compatible(o Header) error {
	diffs := []struct {
		name string
		a, b any
	}{
		{"kind", h.Kind, o.Kind},
		{"model", h.ModelSHA256, o.ModelSHA256},
		{"data", h.DataFingerprint, o.DataFingerprint},
		{"dataset", h.Dataset, o.Dataset},
		{"split", h.Split, o.Split},
		{"sample seed", h.SampleSeed, o.SampleSeed},
		{"sample size", h.SampleN, o.SampleN},
		{"configuration", h.Config, o.Config},
		{"shard count", h.Shard.Count, o.Shard.Count},
	}
	for _, d := range diffs {
		if d.a != d.b {
			a, b := around(fmt.Sprint(d.a), fmt.Sprint(d.b))
			return fmt.Errorf("%s differs: %s vs %s", d.name, a, b)
		}
	}
	return nil
}

// around shows two long values where they differ: a window of each from a little
// before the first differing character, so a configuration that differs in one
// setting names that setting.
func around(a, b string) (string, string) {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	cut := func(s string) string {
		lo, hi := max(0, i-20), min(len(s), i+40)
		out := s[lo:hi]
		if lo > 0 {
			out = "..." + out
		}
		if hi < len(s) {
			out += "..."
		}
		return fmt.Sprintf("%q", out)
	}
	return cut(a), cut(b)
}

// Positioned is a per-sample record that knows its position in the sample list.
type Positioned interface{ Position() int }

// Part is a result file's header and its per-sample records.
type Part[S Positioned] struct {
	// Name is where the part came from (a file path), for messages.
	Name    string
	Header  Header
	Samples []S
}

// Merge joins the parts of one run into the whole: it refuses parts that do not belong
// together (naming the part and the difference), duplicate or missing shards (naming
// them), and records that are not exactly the positions their shard holds. The result
// has the shared header with Shard = Whole and the records in sample-list order.
func Merge[S Positioned](parts []Part[S]) (Header, []S, error) {
	if len(parts) == 0 {
		return Header{}, nil, fmt.Errorf("merge: no parts")
	}
	first := parts[0].Header
	seen := map[int]string{}
	var all []S
	for _, p := range parts {
		if err := first.Compatible(p.Header); err != nil {
			return Header{}, nil, fmt.Errorf("merge: %s does not belong with %s: %w", p.Name, parts[0].Name, err)
		}
		if err := p.Header.Shard.Valid(); err != nil {
			return Header{}, nil, fmt.Errorf("merge: %s: %w", p.Name, err)
		}
		if prev, dup := seen[p.Header.Shard.Index]; dup {
			return Header{}, nil, fmt.Errorf("merge: %s and %s are both shard %s", prev, p.Name, p.Header.Shard)
		}
		seen[p.Header.Shard.Index] = p.Name
		want := p.Header.Shard.Positions(first.SampleN)
		got := make([]int, len(p.Samples))
		for i, s := range p.Samples {
			got[i] = s.Position()
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return Header{}, nil, fmt.Errorf("merge: %s holds %d records at positions other than shard %s's %d (incomplete or edited part)", p.Name, len(got), p.Header.Shard, len(want))
		}
		all = append(all, p.Samples...)
	}
	have := make([]int, 0, len(seen))
	for i := range seen {
		have = append(have, i)
	}
	if miss := Missing(first.Shard.Count, have); len(miss) > 0 {
		names := make([]string, len(miss))
		for i, m := range miss {
			names[i] = Spec{m, first.Shard.Count}.String()
		}
		return Header{}, nil, fmt.Errorf("merge: missing shard(s) %s of %d", strings.Join(names, ", "), first.Shard.Count)
	}
	slices.SortFunc(all, func(a, b S) int { return cmp.Compare(a.Position(), b.Position()) })
	h := first
	h.Shard = Whole
	return h, all, nil
}
