package attack

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Settings are what the registry's constructors take from an evaluation run: the
// budget and the choices that depend on the dataset or the model. Every other option
// keeps its attack's documented default (the paper's budget).
type Settings struct {
	// Eps is the budget of the bounded attacks (pgd-*, apgd-*); the minimum-norm
	// attacks (deepfool-*, ddn, cw-l2, noise-*) ignore it and the runner compares
	// their distances with it.
	Eps float64
	// Restarts is PGD's number of random starts (0: 5, the paper's MNIST and
	// Fashion-MNIST value; DefaultRestarts(height) gives 20 on 32x32 data). APGD keeps
	// its single start.
	Restarts int
	// EOT is the number of calls every gradient and evaluation averages over (0: 1;
	// set 5, the paper's value, for a randomised model such as E-ABS).
	EOT int
}

// Constructor builds an attack from run settings.
type Constructor func(Settings) (Attack, error)

var registry = struct {
	sync.Mutex
	m map[string]Constructor
}{m: map[string]Constructor{
	"pgd-linf": bounded(func(s Settings) Attack { return PGDAttack{Lp: Linf, Eps: s.Eps, Restarts: s.Restarts, EOT: s.EOT} }),
	"pgd-l2":   bounded(func(s Settings) Attack { return PGDAttack{Lp: L2, Eps: s.Eps, Restarts: s.Restarts, EOT: s.EOT} }),
	"apgd-ce-linf": bounded(func(s Settings) Attack {
		return APGD{Lp: Linf, Eps: s.Eps, Loss: "ce", EOT: s.EOT}
	}),
	"apgd-ce-l2": bounded(func(s Settings) Attack { return APGD{Lp: L2, Eps: s.Eps, Loss: "ce", EOT: s.EOT} }),
	"apgd-dlr-linf": bounded(func(s Settings) Attack {
		return APGD{Lp: Linf, Eps: s.Eps, Loss: "dlr", EOT: s.EOT}
	}),
	"apgd-dlr-l2":   bounded(func(s Settings) Attack { return APGD{Lp: L2, Eps: s.Eps, Loss: "dlr", EOT: s.EOT} }),
	"deepfool-linf": minNorm(func(s Settings) Attack { return DeepFool{Lp: Linf, EOT: s.EOT} }),
	"deepfool-l2":   minNorm(func(s Settings) Attack { return DeepFool{Lp: L2, EOT: s.EOT} }),
	"ddn":           minNorm(func(s Settings) Attack { return DDN{EOT: s.EOT} }),
	"cw-l2":         minNorm(func(s Settings) Attack { return CW{EOT: s.EOT} }),
	"noise-l2":      minNorm(func(s Settings) Attack { return Noise{Lp: L2, EOT: s.EOT} }),
	"noise-linf":    minNorm(func(s Settings) Attack { return Noise{Lp: Linf, EOT: s.EOT} }),
}}

func checkSettings(s Settings) error {
	if s.Restarts < 0 || s.EOT < 0 {
		return fmt.Errorf("attack: restarts %d and EOT %d must not be negative", s.Restarts, s.EOT)
	}
	return nil
}

func bounded(f func(Settings) Attack) Constructor {
	return func(s Settings) (Attack, error) {
		if err := checkSettings(s); err != nil {
			return nil, err
		}
		a := f(s)
		if err := checkEps(a.Name(), s.Eps); err != nil {
			return nil, err
		}
		return a, nil
	}
}

func minNorm(f func(Settings) Attack) Constructor {
	return func(s Settings) (Attack, error) {
		if err := checkSettings(s); err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

// New builds the attack registered under name (see Names) with the run's settings:
//
//	pgd-linf, pgd-l2            PGDAttack: 80 steps, step 2.5*eps/80, Settings.Restarts
//	apgd-ce-linf, apgd-ce-l2    APGD, cross-entropy: 100 iterations, 1 restart
//	apgd-dlr-linf, apgd-dlr-l2  APGD, DLR loss (3 or more classes)
//	deepfool-linf, deepfool-l2  DeepFool: 100 steps, overshoot 0.02, all classes
//	ddn                         DDN (L2): 80 steps, gamma 0.05
//	cw-l2                       Carlini-Wagner L2: 5 x 100 steps, lr 0.01
//	noise-l2, noise-linf        additive Gaussian noise: 100 sizes x 10 draws
//
// The first two groups are bounded by Settings.Eps; the others minimise the distance.
func New(name string, s Settings) (Attack, error) {
	registry.Lock()
	c, ok := registry.m[name]
	registry.Unlock()
	if !ok {
		return nil, fmt.Errorf("attack: unknown attack %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return c(s)
}

// Names lists the registered attacks, sorted.
func Names() []string {
	registry.Lock()
	defer registry.Unlock()
	out := make([]string, 0, len(registry.m))
	for k := range registry.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Register adds an attack under a new name, so attacks defined in other files (the
// gradient-free ones, E-ABS's latent descent) can be built by name too. It panics if the
// name is taken or c is nil: that is a programming error, found at start-up.
func Register(name string, c Constructor) {
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.m[name]; ok || c == nil || name == "" {
		panic("attack: Register of " + name + ": name taken, empty or no constructor")
	}
	registry.m[name] = c
}
