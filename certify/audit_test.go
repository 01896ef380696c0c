package certify

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eabs/eabs/infer"
)

// TestAuditCatchesWeakSearch: certificates from a deliberately weak search (one random
// start, two Adam steps, one restart) on waveFake, whose distances have many local
// minima, overstate some radii. The audit, searching other banks with its own descent,
// must find every class's brute-force d_k (to 2e-3), report the classes whose
// certificate d_k was too high, and give the brute-force eps* wherever the certificate
// overstated it.
func TestAuditCatchesWeakSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("brute force over a fine grid")
	}
	const K, P, n = 3, 4, 8
	f := waveFake(K, P)
	rng := rand.New(rand.NewPCG(15, 16))
	x := make([]float32, n*P)
	labels := make([]int, n)
	for i := 0; i < n; i++ {
		g, _ := f.dec(i%K, []float64{rng.NormFloat64()})
		for j := range g {
			x[i*P+j] = float32(g[j] + 0.25*rng.NormFloat64())
		}
		labels[i] = i % K
	}
	weak := Options{Infer: infer.Options{Starts: 1, Steps: 2, LR: 0.02, BankSeed: 1}, Restarts: 1, Chunk: 1}
	c, err := NewWith(f, f.withBeta(0), weak, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Certify each image against the class the weak search predicts, so most certify.
	probe, err := c.Certify(x, labels, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range labels {
		labels[i] = probe[i].Pred
	}
	rs, err := c.Certify(x, labels, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	ao := AuditOptions{Banks: 2, Starts: 100, Seed: 1000, Top: 4, Steps: 150, Step: 0.1, Tol: 1e-4, Batch: 3, Chunk: 50}
	if err := AuditDistances(context.Background(), f.withBeta(0), weak, rs, x, ao, nil); err != nil {
		t.Fatal(err)
	}
	over, audited := 0, 0
	for i, r := range rs {
		if !(r.Eps > 0) {
			if r.Audit != nil {
				t.Errorf("image %d certifies nothing but was audited", i)
			}
			continue
		}
		audited++
		y := r.Label
		_, _, d := bruteForce(f, to64(x[i*P:(i+1)*P]))
		var smaller []int
		for k := range d {
			if math.Abs(r.Audit.D[k]-d[k]) > 2e-3 {
				t.Errorf("image %d class %d: audit d_k %.5f, brute force %.5f", i, k, r.Audit.D[k], d[k])
			}
			if k != y && r.D[k] > d[k]+0.01 {
				smaller = append(smaller, k) // clearly overstated by the certificate
			}
		}
		for _, k := range smaller {
			if !slices.Contains(r.Audit.Smaller, k) {
				t.Errorf("image %d: certificate d_%d %.4f, brute force %.4f, but the audit reports %v", i, k, r.D[k], d[k], r.Audit.Smaller)
			}
		}
		for _, k := range r.Audit.Smaller {
			if k == y || !(r.D[k] > d[k]) {
				t.Errorf("image %d: audit reports class %d (certificate %.5f, brute force %.5f)", i, k, r.D[k], d[k])
			}
		}
		// eps* with the brute-force d_k (l*_y and r are the certificate's: only
		// d_k is audited); the audit's must match it wherever the certificate
		// overstated it.
		want, _, _ := Radius(y, r.L[y], r.R, d)
		if r.Eps > want+1e-3 {
			over++
			if math.Abs(r.Audit.Eps-want) > 2e-3 {
				t.Errorf("image %d: certificate eps* %.4f overstates %.4f; the audit gives %.4f", i, r.Eps, want, r.Audit.Eps)
			}
		}
		if r.Audit.Eps > r.Eps {
			t.Errorf("image %d: the audit raised eps* from %.5f to %.5f", i, r.Eps, r.Audit.Eps)
		}
	}
	if over == 0 || audited < 3 {
		t.Fatalf("%d images audited, %d overstated: the test checks too little", audited, over)
	}
	s := Summarise(rs, Levels)
	if s.Audited != audited || len(s.AuditLowered) < over {
		t.Errorf("summary: %d audited, lowered %v; want %d audited, at least %d lowered", s.Audited, s.AuditLowered, audited, over)
	}
	t.Logf("%d audited, %d radii overstated by the weak search, all caught (largest drop %.4f)", audited, over, s.MaxAuditDrop)
}

// TestAuditRejectsCertificateBanks: the audit must not reuse the certificate's bank
// seeds (restarts BankSeed .. BankSeed + MaxRestarts - 1).
func TestAuditRejectsCertificateBanks(t *testing.T) {
	f := waveFake(2, 3)
	cert := Options{Infer: infer.Options{Starts: 4, BankSeed: 10}, Restarts: 2, MaxRestarts: 5}
	ao := DefaultAudit()
	ao.Seed = 13
	if err := AuditDistances(context.Background(), f.withBeta(0), cert, nil, nil, ao, nil); err == nil {
		t.Fatal("an audit from bank seed 13 was accepted for a certificate drawing seeds 10-14")
	}
	ao.Seed = 15
	if err := AuditDistances(context.Background(), f.withBeta(0), cert, nil, nil, ao, nil); err != nil {
		t.Fatalf("seeds 15-16 are the audit's own: %v", err)
	}
}
