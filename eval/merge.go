package suite

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/eabs/eabs/shard"
)

// Part is one shard's results file as read: its name (a path, for messages) and bytes.
// Every kind of results file keeps its shard.Header under the top-level key "header".
type Part struct {
	Name string
	Data []byte
}

// MergeFunc joins the parts of one run of a kind into the whole run's results (to be
// written as JSON), or says why they do not belong together.
type MergeFunc func(parts []Part) (any, error)

var (
	mergeMu sync.Mutex
	mergers = map[string]MergeFunc{}
)

// RegisterMerge makes kind's parts mergeable by Merge (package init of the kind's
// owner: "attack" and "classify" here, "certify" in its package).
func RegisterMerge(kind string, f MergeFunc) {
	mergeMu.Lock()
	defer mergeMu.Unlock()
	if _, dup := mergers[kind]; dup {
		panic("suite: merge of kind " + kind + " registered twice")
	}
	mergers[kind] = f
}

// MergeKinds lists the kinds Merge handles.
func MergeKinds() []string {
	mergeMu.Lock()
	defer mergeMu.Unlock()
	var out []string
	for k := range mergers {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func init() {
	RegisterMerge(Kind, mergeAttack)
	RegisterMerge(ClassifyKind, mergeClassify)
}

// ReadParts reads the files at paths.
func ReadParts(paths []string) ([]Part, error) {
	out := make([]Part, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out[i] = Part{Name: p, Data: b}
	}
	return out, nil
}

// Merge dispatches the parts to their kind's merge, after checking that they are all
// of one kind.
func Merge(parts []Part) (kind string, merged any, err error) {
	if len(parts) == 0 {
		return "", nil, fmt.Errorf("merge: no parts")
	}
	for i, p := range parts {
		var h struct {
			Header *shard.Header `json:"header"`
		}
		if err := json.Unmarshal(p.Data, &h); err != nil {
			return "", nil, fmt.Errorf("merge: %s: %w", p.Name, err)
		}
		if h.Header == nil || h.Header.Kind == "" {
			return "", nil, fmt.Errorf("merge: %s has no header naming its kind (not an eabs results part)", p.Name)
		}
		if i == 0 {
			kind = h.Header.Kind
		} else if h.Header.Kind != kind {
			return "", nil, fmt.Errorf("merge: %s is a %q part, %s a %q part", p.Name, h.Header.Kind, parts[0].Name, kind)
		}
	}
	mergeMu.Lock()
	f, ok := mergers[kind]
	mergeMu.Unlock()
	if !ok {
		return "", nil, fmt.Errorf("merge: no merge for kind %q (known: %s)", kind, strings.Join(MergeKinds(), ", "))
	}
	m, err := f(parts)
	return kind, m, err
}

func names(parts []Part) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.Name
	}
	return out
}

func mergeAttack(parts []Part) (any, error) {
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
	out.Header, out.Records, out.Parts, out.Complete = h, recs, names(parts), true
	var prov []any
	for _, r := range rs {
		prov = append(prov, r.Provenance)
	}
	out.Provenance = prov
	out.Summary = Summarize(&out)
	return &out, nil
}

func mergeClassify(parts []Part) (any, error) {
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
	out.Header, out.Records, out.Parts = h, recs, names(parts)
	var prov []any
	for _, r := range rs {
		prov = append(prov, r.Provenance)
	}
	out.Provenance = prov
	out.summarize()
	return &out, nil
}
