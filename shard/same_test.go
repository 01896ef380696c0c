package shard

import (
	"strings"
	"testing"
)

func TestSame(t *testing.T) {
	base := `{"header":{"kind":"attack","shard":{"index":0,"count":1}},"records":[{"pos":0,"robust":true},{"pos":1,"d":0.5}],"provenance":{"time":"a"}}`
	tests := []struct {
		name, b, want string
	}{
		{"identical", base, ""},
		{"other shard and provenance", `{"header":{"kind":"attack","shard":{"index":0,"count":3}},"records":[{"pos":0,"robust":true},{"pos":1,"d":0.5}],"provenance":[{"time":"b"}],"parts":["x"]}`, ""},
		{"other timings", `{"header":{"kind":"attack"},"records":[{"pos":0,"robust":true,"seconds":3},{"pos":1,"d":0.5}],"seconds":9}`, ""},
		{"one record's value", `{"header":{"kind":"attack"},"records":[{"pos":0,"robust":true},{"pos":1,"d":0.50000001}]}`, "records[1].d (0.5 vs 0.50000001)"},
		{"a record missing", `{"header":{"kind":"attack"},"records":[{"pos":0,"robust":true}]}`, "records (length 2 vs 1)"},
		{"a key more", `{"header":{"kind":"attack","model_sha256":"x"},"records":[{"pos":0,"robust":true},{"pos":1,"d":0.5}]}`, "header.model_sha256 (<nil> vs x)"},
	}
	for _, tt := range tests {
		err := Same("a", []byte(base), "b", []byte(tt.b))
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: Same = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Same = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if err := Same("a", []byte(`{"x":1}`), "b", []byte(`{"x":1}`)); err == nil || !strings.Contains(err.Error(), "no header") {
		t.Errorf("Same on files without a header = %v, want a no-header error", err)
	}
}
