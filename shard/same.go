package shard

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// runOnly are the top-level keys of a result file that describe how a run was carried out
// (when, by which command, from which parts) rather than what it found, and timeless
// are such keys at any depth (how long a record took); Same ignores both.
var (
	runOnly  = []string{"provenance", "parts", "command", "build", "time"}
	timeless = []string{"seconds", "seconds_per_image", "timing"}
)

// Same reports whether two result files of any kind (attack, classify, certify, merged or
// not) hold the same results: everything equal except the keys in runOnly and the shard
// of the header. It returns nil or an error naming the first path where they differ, so
// "the merged shards equal the unsharded run" is checked on every record, not a summary.
func Same(nameA string, a []byte, nameB string, b []byte) error {
	var va, vb map[string]any
	if err := json.Unmarshal(a, &va); err != nil {
		return fmt.Errorf("same: %s: %w", nameA, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return fmt.Errorf("same: %s: %w", nameB, err)
	}
	for _, v := range []map[string]any{va, vb} {
		for _, k := range runOnly {
			delete(v, k)
		}
		if h, ok := v["header"].(map[string]any); ok {
			delete(h, "shard")
		}
	}
	if _, ok := va["header"]; !ok {
		return fmt.Errorf("same: %s has no header (not an eabs result file)", nameA)
	}
	if p := firstDiff("", va, vb); p != "" {
		return fmt.Errorf("same: %s and %s differ at %s", nameA, nameB, p)
	}
	return nil
}

// firstDiff returns the path of the first difference between two decoded JSON values, or "".
func firstDiff(path string, a, b any) string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return orRoot(path)
		}
		for _, k := range timeless {
			delete(x, k)
			delete(y, k)
		}
		keys := make([]string, 0, len(x)+len(y))
		for k := range x {
			keys = append(keys, k)
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p := firstDiff(path+"."+k, x[k], y[k]); p != "" {
				return p
			}
		}
		return ""
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return orRoot(path) + fmt.Sprintf(" (length %d vs %v)", len(x), lenOf(b))
		}
		for i := range x {
			if p := firstDiff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i]); p != "" {
				return p
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("%s (%v vs %v)", orRoot(path), a, b)
	}
	return ""
}

func orRoot(p string) string {
	if p == "" {
		return "the top level"
	}
	return strings.TrimPrefix(p, ".")
}

func lenOf(v any) any {
	if s, ok := v.([]any); ok {
		return len(s)
	}
	return "not a list"
}
