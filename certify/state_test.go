package certify

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/shard"
)

// TestCertifyResumesFromASavedPass: a certification stopped after a restart (its save
// failing, as a kill would stop it) and resumed from the pass it saved gives exactly
// the uninterrupted certificates; a state of another run is refused.
func TestCertifyResumesFromASavedPass(t *testing.T) {
	const K, P, n = 3, 3, 12
	f := oneLatentLinear(K, P)
	opt := Options{Infer: infer.Options{Starts: 1, Steps: 0, LR: 0.05, BankSeed: 25}, Restarts: 2, MaxRestarts: 3, DTol: 0.01, Chunk: 1}
	c, err := NewWith(f, f.withBeta(0), opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 9))
	x := make([]float32, n*P)
	labels := make([]int, n)
	for i := range labels {
		g, _ := f.dec(i%K, []float64{rng.NormFloat64()})
		for j := range g {
			x[i*P+j] = float32(g[j] + 0.3*rng.NormFloat64())
		}
		labels[i] = i % K
	}
	want, err := c.Certify(x, labels, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stopped")
	var saved []byte
	_, err = c.CertifyFrom(x, labels, 5, nil, func(p *Pass) error {
		saved, _ = json.Marshal(p) // as written to the state file
		return stop
	}, nil)
	if !errors.Is(err, stop) {
		t.Fatalf("the interrupted run: %v", err)
	}
	var from Pass
	if err := json.Unmarshal(saved, &from); err != nil || from.Restarts != 1 {
		t.Fatalf("saved pass: %d restarts (%v), want 1", from.Restarts, err)
	}
	got, err := c.CertifyFrom(x, labels, 5, &from, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("the resumed certification differs from the uninterrupted one")
	}
	// The state file of another run is refused; of this run, read back.
	dir := t.TempDir()
	h := shard.Header{Kind: Kind, ModelSHA256: "m", Config: "c", SampleN: n, Shard: shard.Whole}
	p := filepath.Join(dir, "s.json")
	var first Pass // the saved pass, as read back from the file (from was resumed in place)
	if err := json.Unmarshal(saved, &first); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(state{Header: h, Pass: first})
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := readState(p, h); err != nil || st.Restarts != 1 {
		t.Errorf("readState of this run: %v, %v", st, err)
	}
	other := h
	other.Config = "another"
	if _, err := readState(p, other); err == nil || !strings.Contains(err.Error(), "another run") {
		t.Errorf("readState of another run's state: %v", err)
	}
	if err := os.WriteFile(p, []byte("EABSFILE"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readState(p, h); err == nil || !strings.Contains(err.Error(), "not a certification's state") {
		t.Errorf("readState of a model file: %v", err)
	}
}
