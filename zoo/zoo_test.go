package zoo

import (
	"strings"
	"testing"
)

func TestLoadEveryModel(t *testing.T) {
	names := Names()
	if len(names) == 0 {
		t.Fatal("the zoo is empty")
	}
	for _, n := range names {
		w, meta, err := Load(Prefix + n)
		if err != nil {
			t.Fatalf("Load(%q): %v", n, err)
		}
		if meta["dataset"] == "" || w.Count() == 0 {
			t.Errorf("%s: dataset %q, %d parameters", n, meta["dataset"], w.Count())
		}
	}
	if _, _, err := Load("no-such-model"); err == nil || !strings.Contains(err.Error(), names[0]) {
		t.Errorf("Load(unknown) error = %v, want one listing the zoo", err)
	}
}
