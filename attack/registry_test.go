package attack_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/eabs/eabs/attack"
)

// TestRegistry: every name builds an attack of that name and norm with the settings
// passed through, bounded attacks refuse a missing budget, and every registered attack
// keeps the invariants on a small model.
func TestRegistry(t *testing.T) {
	want := []string{"apgd-ce-l2", "apgd-ce-linf", "apgd-dlr-l2", "apgd-dlr-linf", "apgd-t-l2", "apgd-t-linf", "cw-l2", "ddn", "fab-l2", "fab-linf", "fab-t-l2", "fab-t-linf",
		"deepfool-l2", "deepfool-linf", "noise-l2", "noise-linf", "pgd-l2", "pgd-linf"}
	names := attack.Names()
	for _, w := range want {
		found := false
		for _, n := range names {
			found = found || n == w
		}
		if !found {
			t.Errorf("Names() = %v lacks %q", names, w)
		}
	}
	norms := map[string]attack.Norm{"apgd-ce-l2": attack.L2, "apgd-ce-linf": attack.Linf, "apgd-dlr-l2": attack.L2,
		"apgd-dlr-linf": attack.Linf, "apgd-t-l2": attack.L2, "apgd-t-linf": attack.Linf, "fab-t-l2": attack.L2, "fab-t-linf": attack.Linf, "fab-l2": attack.L2, "fab-linf": attack.Linf, "cw-l2": attack.L2, "ddn": attack.L2, "deepfool-l2": attack.L2,
		"deepfool-linf": attack.Linf, "noise-l2": attack.L2, "noise-linf": attack.Linf, "pgd-l2": attack.L2, "pgd-linf": attack.Linf}
	bounded := map[string]bool{"apgd-ce-l2": true, "apgd-ce-linf": true, "apgd-dlr-l2": true, "apgd-dlr-linf": true, "apgd-t-l2": true, "apgd-t-linf": true, "pgd-l2": true, "pgd-linf": true}
	rng := rand.New(rand.NewPCG(1, 3))
	m := models(1)["mlp"]
	const n, batch = 16, 4
	x, y := problem(t, m, n, batch, 2)
	for _, name := range want {
		a, err := attack.New(name, attack.Settings{Eps: 0.5, Restarts: 2})
		if err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
		if a.Name() != name || a.Norm() != norms[name] {
			t.Errorf("New(%q) is %q in %s, want %s", name, a.Name(), a.Norm(), norms[name])
		}
		_, err = attack.New(name, attack.Settings{})
		if bounded[name] != (err != nil) {
			t.Errorf("New(%q) without eps: error %v, bounded %v", name, err, bounded[name])
		}
		eps := 0.0
		if bounded[name] {
			eps = 0.5
		}
		runChecked(t, a, m, x, y, batch, eps, rng.Uint64())
	}
	if a, _ := attack.New("pgd-linf", attack.Settings{Eps: 0.3, Restarts: 20, KeepGoing: true}); !reflect.DeepEqual(a, attack.PGDAttack{Lp: attack.Linf, Eps: 0.3, Restarts: 20, KeepGoing: true}) {
		t.Errorf("New(pgd-linf) = %+v, settings not passed through", a)
	}
	if _, err := attack.New("fgsm", attack.Settings{Eps: 1}); err == nil {
		t.Error("New accepted an unknown name")
	}
	if _, err := attack.New("ddn", attack.Settings{Restarts: -1}); err == nil {
		t.Error("New accepted negative restarts")
	}
	// Kind agrees with what New builds, for every registered attack (the gradient-free
	// ones included), and with the bounded set above.
	for name, b := range map[string]bool{"square-linf": true, "square-l2": true, "nes-l2": true, "spsa-linf": true, "hsj-l2": false, "hsj-linf": false, "boundary-l2": false} {
		bounded[name] = b
	}
	for _, name := range attack.Names() {
		norm, b, err := attack.Kind(name)
		if err != nil {
			t.Fatalf("Kind(%q): %v", name, err)
		}
		a, err := attack.New(name, attack.Settings{Eps: 0.5, Queries: 100})
		if err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
		if a.Name() != name || a.Norm() != norm {
			t.Errorf("Kind(%q) = %s, but New builds %q in %s", name, norm, a.Name(), a.Norm())
		}
		if want, known := bounded[name]; known && b != want {
			t.Errorf("Kind(%q) bounded = %v, want %v", name, b, want)
		}
		if _, err := attack.New(name, attack.Settings{}); b != (err != nil) {
			t.Errorf("New(%q) without eps: error %v, but Kind says bounded %v", name, err, b)
		}
	}
	if _, _, err := attack.Kind("fgsm"); err == nil {
		t.Error("Kind accepted an unknown name")
	}
}

// TestQueryOnly: the attacks QueryOnly calls gradient-free run on a model that answers
// nothing but logits; every other registered attack but noise (random draws, no
// model internals, yet not a query attack of the gradient-masking check) refuses it,
// needing gradients or reconstructions.
func TestQueryOnly(t *testing.T) {
	m := models(1)["mlp"]
	const n, batch = 16, 2
	x, y := problem(t, m, n, batch, 2)
	var query []string
	for _, name := range attack.Names() {
		a, err := attack.New(name, attack.Settings{Eps: 0.5, Restarts: 1, Queries: 40})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Run(context.Background(), logitsOnly{m}, x, y, batch, rand.New(rand.NewPCG(1, 2)))
		var unsup *attack.UnsupportedError
		switch {
		case attack.QueryOnly(name):
			query = append(query, name)
			if err != nil {
				t.Errorf("%s is query-only but fails on a logits-only model: %v", name, err)
			}
		case strings.HasPrefix(name, "noise-"):
		case !errors.As(err, &unsup):
			t.Errorf("%s is not query-only but on a logits-only model gives %v, want an UnsupportedError", name, err)
		}
	}
	if len(query) != 9 {
		t.Errorf("query-only attacks %v, want square, nes and spsa (2 norms each), hsj (2) and boundary", query)
	}
}

// scoresOnly is a classifier with scores and nothing else.
type scoresOnly struct{}

func (scoresOnly) Classes() int { return 2 }
func (scoresOnly) Logits(x []float32, batch int) ([]float32, error) {
	return make([]float32, 2*batch), nil
}

// TestCheck: a model with scores only runs the gradient-free and noise attacks, and is
// refused up front for gradient attacks and the latent descent attack.
func TestCheck(t *testing.T) {
	for _, name := range attack.Names() {
		err := attack.Check(name, scoresOnly{})
		free := attack.QueryOnly(name) || strings.HasPrefix(name, "noise-")
		if free && err != nil {
			t.Errorf("Check(%s) on a scores-only model: %v, want nil", name, err)
		}
		var ue *attack.UnsupportedError
		if !free && !errors.As(err, &ue) {
			t.Errorf("Check(%s) on a scores-only model: %v, want an UnsupportedError", name, err)
		}
	}
}
