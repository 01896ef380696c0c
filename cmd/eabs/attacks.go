package main

import (
	"fmt"
	"strings"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/suite"
)

// attackOptions are the run settings of the attacks built by name.
type attackOptions struct {
	// PGD: steps and random restarts per sample (the paper's 80 and 5 on MNIST and
	// Fashion-MNIST, 20 restarts on the 32x32 sets).
	pgdSteps, pgdRestarts int
	// pgdKeepGoing: PGD steps on to the end of a restart once fooled and keeps the most
	// confidently adversarial iterate (attack.PGDAttack.KeepGoing), for randomised models.
	pgdKeepGoing bool
	// queries is the per-sample budget of the gradient-free attacks (0: their defaults).
	queries int
	// starts feeds the decision-based attacks (boundary-l2, hsj-*): the nearest test
	// image of another class, as the paper starts the Boundary attack.
	starts func(x []float32, y int) ([]float32, bool)
}

func attackNames() string { return strings.Join(attack.Names(), ", ") }

// buildAttack makes the attack registered as name (attack.New) at its norm's budget.
func buildAttack(name string, eps map[attack.Norm]float64, o attackOptions) (suite.Entry, error) {
	norm, bounded, err := attack.Kind(name)
	if err != nil {
		return suite.Entry{}, fmt.Errorf("--attacks: unknown attack %q (known: %s)", name, attackNames())
	}
	e, ok := eps[norm]
	if !ok || !(e > 0) {
		return suite.Entry{}, fmt.Errorf("--attacks: %s needs a positive %s budget", name, norm)
	}
	a, err := attack.New(name, attack.Settings{Eps: e, Restarts: o.pgdRestarts, Queries: o.queries, Starts: o.starts})
	if err != nil {
		return suite.Entry{}, fmt.Errorf("--attacks: %w", err)
	}
	if p, ok := a.(attack.PGDAttack); ok {
		p.Steps, p.KeepGoing = o.pgdSteps, o.pgdKeepGoing
		a = p
	}
	return suite.Entry{Attack: a, Eps: e, Bounded: bounded}, nil
}

// buildAttacks parses --attacks; sweep holds, per norm, its first bounded attack at
// each factor times the norm's budget (the accuracy-vs-eps self-check).
func buildAttacks(list string, eps map[attack.Norm]float64, o attackOptions, factors []float64) (entries, sweep []suite.Entry, err error) {
	seen := map[string]bool{}
	swept := map[attack.Norm]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("--attacks: %s listed twice", name)
		}
		seen[name] = true
		e, err := buildAttack(name, eps, o)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
		n := e.Attack.Norm()
		if e.Bounded && !swept[n] {
			swept[n] = true
			for _, f := range factors {
				big := map[attack.Norm]float64{n: f * eps[n]}
				s, err := buildAttack(name, big, o)
				if err != nil {
					return nil, nil, err
				}
				sweep = append(sweep, s)
			}
		}
	}
	if len(entries) == 0 {
		return nil, nil, fmt.Errorf("--attacks: no attack given (known: %s)", attackNames())
	}
	return entries, sweep, nil
}
