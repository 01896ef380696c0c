package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// proxyFile is a committed proxy run (PGD-L2 1.5 on 200 validation images); the README
// beside it reports 144 of 200 robust.
const proxyFile = "../../results/mnist/eabs/proxy/proxy-paper-ep005.json"

func TestReadProxy(t *testing.T) {
	p, err := readProxy(proxyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Independent count: the records' own robust flags.
	var raw struct {
		Records []struct {
			Attacks []struct {
				Robust bool `json:"robust"`
			} `json:"attacks"`
		} `json:"records"`
	}
	b, err := os.ReadFile(proxyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, r := range raw.Records {
		if r.Attacks[0].Robust {
			k++
		}
	}
	if p.epoch != 5 || p.n != len(raw.Records) || p.correct != k || k != 144 {
		t.Fatalf("epoch %d, %d of %d robust; want epoch 5, %d of %d (144 in the README)", p.epoch, p.correct, p.n, k, len(raw.Records))
	}
	if !(p.lo < p.acc && p.acc < p.hi) || p.lo < 0.64 || p.hi > 0.79 {
		t.Errorf("interval [%g, %g] around %g: want Clopper-Pearson's [0.6523, 0.7810]", p.lo, p.hi, p.acc)
	}
}

// TestReadProxyRejects: files that are not a finished validation proxy are refused with
// the reason, never drawn.
func TestReadProxyRejects(t *testing.T) {
	b, err := os.ReadFile(proxyFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := []struct {
		name, file, from, to, want string
	}{
		{"no epoch", "proxy-zoo.json", "", "", "no epoch"},
		{"test split", "proxy-ep005.json", `"split": "val"`, `"split": "test"`, "validation split"},
		{"unfinished", "proxy-ep005.json", `"complete": true`, `"complete": false`, "unfinished"},
		{"not json", "proxy-ep005.json", "{", "[", "invalid character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := string(b)
			if c.from != "" {
				if !strings.Contains(s, c.from) {
					t.Fatalf("the committed file has no %q", c.from)
				}
				s = strings.Replace(s, c.from, c.to, 1)
			}
			path := filepath.Join(dir, c.file)
			if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readProxy(path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one containing %q", err, c.want)
			}
		})
	}
}
