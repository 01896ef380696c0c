package attack_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
)

// recording is a judge that remembers the images it classified.
type recording struct {
	*attacktest.Linear
	seen [][]float32
}

func (r *recording) Logits(x []float32, batch int) ([]float32, error) {
	n := len(x) / batch
	for b := 0; b < batch; b++ {
		r.seen = append(r.seen, append([]float32(nil), x[b*n:(b+1)*n]...))
	}
	return r.Linear.Logits(x, batch)
}

// judgeCase is PGD-L2 on x = (0.5, 0.5), eps 0.3, one step of 1e-9 per restart, so that
// every restart's candidates are its random start (a uniform point of the disc, inside
// the box), with KeepGoing as the suite runs E-ABS.
func judgeCase(restarts int, judge attack.Classifier) attack.PGDAttack {
	return attack.PGDAttack{Lp: attack.L2, Eps: 0.3, Steps: 1, Step: 1e-9, Restarts: restarts, KeepGoing: true, Judge: judge}
}

var judgeX = []float32{0.5, 0.5}

// TestPGDJudgeRejectsFalseClaims: the attacked model claims every candidate (class 1
// everywhere, as the zoo E-ABS's warm-started attacker inference claimed candidates
// its full inference classified correctly), and the Judge misclassifies only the part
// x_0 > 0.6 of the disc (29% of it). Without a Judge the first claim ends the attack
// after one restart, and its answer is true whatever the candidate. With the Judge, Ok
// is the Judge's answer on the candidate, rejected claims do not end the restarts (20
// of them find the Judge's region for every seed here: each misses it with
// probability 0.71), and each judged restart costs one more query.
func TestPGDJudgeRejectsFalseClaims(t *testing.T) {
	liar := attacktest.Binary([]float64{1e-3, 0}, 1)
	const steps, restarts = 1, 20
	missed := 0
	for seed := uint64(1); seed <= 40; seed++ {
		plain, err := judgeCase(restarts, nil).Run(context.Background(), liar, judgeX, []int{0}, 1, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if !plain.Ok[0] || plain.Queries[0] != steps+1 {
			t.Fatalf("seed %d without a judge: Ok %v after %d queries, want the first claim (true, %d queries)", seed, plain.Ok[0], plain.Queries[0], steps+1)
		}
		judge := &recording{Linear: attacktest.Binary([]float64{1, 0}, -0.6)}
		f, err := judgeCase(restarts, judge).Run(context.Background(), liar, judgeX, []int{0}, 1, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if in := f.Adv[0] > 0.6; f.Ok[0] != in {
			t.Fatalf("seed %d: Ok %v, but the judge classifies the candidate %v as class %d", seed, f.Ok[0], f.Adv, map[bool]int{false: 0, true: 1}[in])
		}
		if d := math.Hypot(float64(f.Adv[0]-0.5), float64(f.Adv[1]-0.5)); d > 0.3+1e-6 {
			t.Fatalf("seed %d: candidate at distance %.4f, beyond eps 0.3", seed, d)
		}
		// Every restart claimed and was judged: steps+1 evaluations and one judgement
		// each, up to the first the judge agreed with.
		r := len(judge.seen)
		if f.Queries[0] != r*(steps+2) || r > restarts || (!f.Ok[0] && r != restarts) {
			t.Fatalf("seed %d: Ok %v, %d queries after %d judged restarts, want %d", seed, f.Ok[0], f.Queries[0], r, r*(steps+2))
		}
		if !f.Ok[0] {
			missed++
		}
	}
	if missed > 0 {
		t.Errorf("%d of 40 seeds found nothing in 20 judged restarts (each restart finds the judge's region with probability 0.29)", missed)
	}
}

// TestPGDJudgeCandidates: what a judged PGD returns when no claim holds. Rejected
// claims only: the one the Judge scores highest (here the largest x_0, as the Judge's
// margin is x_0 - 2). Restarts without a claim keep their highest-loss iterate by the
// attacked model's loss, ahead of any rejected claim, as an attacker's claim the Judge
// rejected is not evidence of a better point.
func TestPGDJudgeCandidates(t *testing.T) {
	never := attacktest.Binary([]float64{1, 0}, -2) // class 1 nowhere in the disc
	for seed := uint64(1); seed <= 10; seed++ {
		judge := &recording{Linear: never}
		liar := attacktest.Binary([]float64{1e-3, 0}, 1)
		f, err := judgeCase(8, judge).Run(context.Background(), liar, judgeX, []int{0}, 1, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if f.Ok[0] || len(judge.seen) != 8 {
			t.Fatalf("seed %d: Ok %v after %d judged restarts, want false after 8", seed, f.Ok[0], len(judge.seen))
		}
		top := judge.seen[0]
		for _, c := range judge.seen {
			if c[0] > top[0] {
				top = c
			}
		}
		if f.Adv[0] != top[0] || f.Adv[1] != top[1] {
			t.Errorf("seed %d: candidate %v, want the rejected claim the judge scores highest %v", seed, f.Adv, top)
		}

		// The attacked model claims only where x_1 > 0.5; its loss there is x_1 - 0.5.
		judge = &recording{Linear: never}
		half := attacktest.Binary([]float64{0, 1}, -0.5)
		f, err = judgeCase(8, judge).Run(context.Background(), half, judgeX, []int{0}, 1, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if len(judge.seen) == 8 {
			continue // every restart claimed: nothing to compare
		}
		if f.Ok[0] || f.Adv[1] > 0.5 {
			t.Errorf("seed %d: Ok %v, candidate %v: want an unclaimed restart's iterate (x_1 <= 0.5) ahead of %d rejected claims", seed, f.Ok[0], f.Adv, len(judge.seen))
		}
	}
}

// TestPGDJudgeAgreeing: a Judge that is the attacked model itself changes nothing but
// one query per claimed restart (TestPGDKeepGoing's closed form).
func TestPGDJudgeAgreeing(t *testing.T) {
	w := []float64{0.6, -0.3, 0.2, 0.5, -0.4, 0.1}
	l := attacktest.Binary(w, 0)
	x := []float32{0.5, 0.5, 0.45, 0.5, 0.5, 0.5}
	p := attack.PGDAttack{Lp: attack.L2, Eps: 0.4, Steps: 40, Restarts: 2, ZeroStart: true, KeepGoing: true}
	a, err := p.Run(context.Background(), l, x, []int{1}, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	p.Judge = l
	b, err := p.Run(context.Background(), l, x, []int{1}, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Ok[0] || !b.Ok[0] || b.Queries[0] != a.Queries[0]+1 {
		t.Fatalf("Ok %v and %v, queries %d and %d: want both true, one query more with the judge", a.Ok[0], b.Ok[0], a.Queries[0], b.Queries[0])
	}
	for i := range a.Adv {
		if a.Adv[i] != b.Adv[i] {
			t.Fatalf("pixel %d: %v with the judge, %v without", i, b.Adv[i], a.Adv[i])
		}
	}
}

// TestPGDOptionsJSON: a run's configuration records the options; without a Judge they
// are what they were before it existed (the committed E-ABS runs' configuration hashes
// hold), with one they say so.
func TestPGDOptionsJSON(t *testing.T) {
	p := attack.PGDAttack{Lp: attack.L2, Eps: 1.5, Steps: 80, Restarts: 5, KeepGoing: true}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Lp":"l2","Eps":1.5,"Steps":80,"Step":0,"Restarts":5,"EOT":0,"ZeroStart":false,"KeepGoing":true}`; string(b) != want {
		t.Errorf("options %s, want %s", b, want)
	}
	p.Judge = attacktest.Binary([]float64{1}, 0)
	b, err = json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Lp":"l2","Eps":1.5,"Steps":80,"Step":0,"Restarts":5,"EOT":0,"ZeroStart":false,"KeepGoing":true,"Judged":true}`; string(b) != want {
		t.Errorf("options with a judge %s, want %s", b, want)
	}
}
