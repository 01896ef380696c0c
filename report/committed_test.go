package report

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/shard"
)

// TestCommittedResultsRead: every committed results file with a kind still reads with
// its kind's reader, compares equal to itself (report --same) and, as one part, merges
// into itself: a change of a result format must keep the files the README's numbers
// come from readable.
func TestCommittedResultsRead(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every committed result")
	}
	root := filepath.Join("..", "results")
	kinds := map[string]int{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".state") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var h struct {
			Header *shard.Header `json:"header"`
		}
		if json.Unmarshal(b, &h) != nil || h.Header == nil || h.Header.Kind == "" {
			return nil // not a results file of a kind (summaries, probes, reports)
		}
		kinds[h.Header.Kind]++
		switch h.Header.Kind {
		case eval.Kind:
			r, err := eval.ReadFile(path)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				return nil
			}
			eval.Summarize(r)
		case eval.ClassifyKind:
			if _, err := eval.ReadClassify(path); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		case certify.Kind:
			if _, err := certify.ReadReport(path); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
		if err := shard.Same(path, b, path, b); err != nil {
			t.Errorf("%s: not the same as itself: %v", path, err)
		}
		var sh struct {
			Header   shard.Header      `json:"header"`
			Complete *bool             `json:"complete"`
			Records  []json.RawMessage `json:"records"`
			Results  []json.RawMessage `json:"results"`
		}
		json.Unmarshal(b, &sh)
		// A whole finished run merges as its one part (a revalidation of the first
		// images of a run holds fewer records than its sample and is no run).
		whole := len(sh.Records)+len(sh.Results) == sh.Header.SampleN
		if !sh.Header.Shard.Sharded() && (sh.Complete == nil || *sh.Complete) && whole {
			if _, _, err := Merge([]shard.File{{Name: path, Data: b}}); err != nil {
				t.Errorf("%s: does not merge as one part: %v", path, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kinds[eval.Kind] < 10 || kinds[certify.Kind] < 1 {
		t.Errorf("read %v results by kind: fewer than the committed runs", kinds)
	}
	t.Logf("committed results read by kind: %v", kinds)
}
