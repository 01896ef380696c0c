package eval

import (
	"fmt"

	"github.com/eabs/eabs/shard"
)

// MergeAttack joins the parts of one attack run (shard.Merge refuses parts of other
// runs and missing or repeated ones) into the whole run's results.
func MergeAttack(parts []shard.File) (*Result, error) {
	rs := make([]*Result, len(parts))
	sp := make([]shard.Part[Record], len(parts))
	for i, p := range parts {
		r, err := decodeResult(p.Name, p.Data)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if !r.Complete {
			return nil, fmt.Errorf("merge: %s is an unfinished run's state, not a finished part", p.Name)
		}
		rs[i] = r
		sp[i] = shard.Part[Record]{Name: p.Name, Header: r.Header, Samples: r.Records}
	}
	h, recs, err := shard.Merge(sp)
	if err != nil {
		return nil, err
	}
	out := *rs[0]
	out.Header, out.Records, out.Parts, out.Complete = h, recs, shard.Names(parts), true
	var prov []any
	for _, r := range rs {
		prov = append(prov, r.Provenance)
	}
	out.Provenance = prov
	out.Summary = Summarize(&out)
	return &out, nil
}

// MergeClassify joins the parts of one classification run.
func MergeClassify(parts []shard.File) (*ClassifyResult, error) {
	rs := make([]*ClassifyResult, len(parts))
	sp := make([]shard.Part[ClassifyRecord], len(parts))
	for i, p := range parts {
		r, err := decodeClassify(p.Name, p.Data)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		rs[i] = r
		sp[i] = shard.Part[ClassifyRecord]{Name: p.Name, Header: r.Header, Samples: r.Records}
	}
	h, recs, err := shard.Merge(sp)
	if err != nil {
		return nil, err
	}
	out := *rs[0]
	out.Header, out.Records, out.Parts = h, recs, shard.Names(parts)
	var prov []any
	for _, r := range rs {
		prov = append(prov, r.Provenance)
	}
	out.Provenance = prov
	out.summarize()
	return &out, nil
}
