package main

import (
	"encoding/json"
	"fmt"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/shard"
	"github.com/eabs/eabs/suite"
)

// eabs report --merge joins certify parts too: the Appendix-A certificates and the
// randomized-smoothing ones, each re-summarised from the merged per-image results.
func init() {
	suite.RegisterMerge("certify", mergeCertify)
	suite.RegisterMerge("certify-smoothing", mergeSmoothing)
}

func mergeCertify(parts []suite.Part) (any, error) {
	reps := make([]CertifyReport, len(parts))
	sp := make([]shard.Part[certify.Result], len(parts))
	var seconds float64
	for i, p := range parts {
		if err := json.Unmarshal(p.Data, &reps[i]); err != nil {
			return nil, fmt.Errorf("merge: %s: %w", p.Name, err)
		}
		sp[i] = shard.Part[certify.Result]{Name: p.Name, Header: reps[i].Header, Samples: reps[i].Results}
		seconds += reps[i].Seconds
	}
	h, res, sum, err := certify.Merge(sp, certify.Levels)
	if err != nil {
		return nil, err
	}
	sum.Label = reps[0].Summary.Label // what was certified: the same in every part
	out := reps[0]
	out.provenance = newProvenance()
	out.Header, out.Results, out.Summary, out.Seconds = h, res, sum, seconds
	out.PerImage = seconds / float64(max(len(res), 1))
	return &out, nil
}

func mergeSmoothing(parts []suite.Part) (any, error) {
	reps := make([]SmoothReport, len(parts))
	sp := make([]shard.Part[certify.SmoothResult], len(parts))
	var seconds float64
	for i, p := range parts {
		if err := json.Unmarshal(p.Data, &reps[i]); err != nil {
			return nil, fmt.Errorf("merge: %s: %w", p.Name, err)
		}
		sp[i] = shard.Part[certify.SmoothResult]{Name: p.Name, Header: reps[i].Header, Samples: reps[i].Results}
		seconds += reps[i].Seconds
	}
	h, res, sum, err := certify.MergeSmoothing(sp, certify.Levels)
	if err != nil {
		return nil, err
	}
	sum.Label = reps[0].Summary.Label
	out := reps[0]
	out.provenance = newProvenance()
	out.Header, out.Results, out.Summary, out.Seconds = h, res, sum, seconds
	out.PerImage = seconds / float64(max(len(res), 1))
	return &out, nil
}
