package train

import (
	"math"
	"strings"
	"testing"

	"github.com/eabs/eabs/models"
)

// paperAdam is Adam as written in Kingma & Ba (2015), Algorithm 1, in float64, for
// one parameter tensor: its own step count, first and second moments.
type paperAdam struct {
	lr, b1, b2, eps float64
	t               int
	m, v            []float64
}

func (o *paperAdam) step(p, g []float64) {
	if o.m == nil {
		o.m, o.v = make([]float64, len(p)), make([]float64, len(p))
	}
	o.t++
	for i := range p {
		o.m[i] = o.b1*o.m[i] + (1-o.b1)*g[i]
		o.v[i] = o.b2*o.v[i] + (1-o.b2)*g[i]*g[i]
		mhat := o.m[i] / (1 - math.Pow(o.b1, float64(o.t)))
		vhat := o.v[i] / (1 - math.Pow(o.b2, float64(o.t)))
		p[i] -= o.lr * mhat / (math.Sqrt(vhat) + o.eps)
	}
}

// TestAdamMatchesPaper drives the training Adam over two parameters, "a" updated
// every step and "b" only on every third (as a class-specific decoder is), and checks
// every parameter after every step against paperAdam. Adam rewrites the update in
// the paper's "efficient" form (lr*sqrt(1-b2^t)/(1-b1^t), eps*sqrt(1-b2^t)), which is
// the same number; a shared step count, a dropped bias correction, other betas or
// eps (one coordinate's gradients are ~1e-9, below eps) move some coordinate by far
// more than float32's rounding.
func TestAdamMatchesPaper(t *testing.T) {
	const (
		lr    = 0.01
		steps = 45
		tol   = 1e-6 // absolute: float32 state, parameters of magnitude < 1
	)
	a := NewAdam(lr)
	if a.Beta1 != 0.9 || a.Beta2 != 0.999 || a.Eps != 1e-8 {
		t.Fatalf("NewAdam defaults %g %g %g, want PyTorch's 0.9 0.999 1e-8", a.Beta1, a.Beta2, a.Eps)
	}
	pa := &models.Param{Name: "a", Shape: []int{4}, Data: []float32{0, 0.3, -0.2, 0.1}}
	pb := &models.Param{Name: "b", Shape: []int{2}, Data: []float32{0.5, -0.5}}
	want := map[string][]float64{"a": {0, 0.3, -0.2, 0.1}, "b": {0.5, -0.5}}
	oracle := map[string]*paperAdam{}
	for _, n := range []string{"a", "b"} {
		oracle[n] = &paperAdam{lr: lr, b1: 0.9, b2: 0.999, eps: 1e-8}
	}
	grad := func(name string, s, i int) float32 {
		x := float64(s)
		switch {
		case name == "a" && i == 3:
			return float32(3e-9 * math.Cos(0.8*x))
		case name == "a" && i == 2:
			return float32(math.Sin(0.5*x) * math.Exp(-0.08*x))
		case name == "a":
			return float32(math.Sin(1.1*x+float64(i)) * float64(1+i))
		}
		return float32(0.3 * math.Cos(0.6*x-float64(i)))
	}
	for s := 0; s < steps; s++ {
		params := []*models.Param{pa}
		if s%3 == 0 {
			params = append(params, pb)
		}
		grads := make([][]float32, len(params))
		for k, p := range params {
			grads[k] = make([]float32, len(p.Data))
			g64 := make([]float64, len(p.Data))
			for i := range grads[k] {
				grads[k][i] = grad(p.Name, s, i)
				g64[i] = float64(grads[k][i])
			}
			oracle[p.Name].step(want[p.Name], g64)
		}
		if err := a.Step(params, grads); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*models.Param{pa, pb} {
			for i, v := range p.Data {
				if d := math.Abs(float64(v) - want[p.Name][i]); !(d <= tol) { // NaN fails too
					t.Fatalf("step %d: %s[%d] = %.9g, the paper's Adam gives %.9g (diff %.3g > %g)", s+1, p.Name, i, v, want[p.Name][i], d, tol)
				}
			}
		}
	}
	if a.T["a"] != steps || a.T["b"] != (steps+2)/3 {
		t.Errorf("step counts a %d b %d, want %d and %d", a.T["a"], a.T["b"], steps, (steps+2)/3)
	}
	if math.Abs(want["a"][0]) < 100*tol || math.Abs(want["b"][0]-0.5) < 100*tol {
		t.Fatalf("oracle hardly moved (%v, %v): the test would not discriminate", want["a"][0], want["b"][0])
	}
}

func TestAdamRefusesMismatchedGradients(t *testing.T) {
	p := &models.Param{Name: "p", Shape: []int{2}, Data: []float32{1, 2}}
	for _, c := range []struct {
		name   string
		params []*models.Param
		grads  [][]float32
		want   string
	}{
		{"count", []*models.Param{p}, nil, "1 parameters, 0 gradients"},
		{"length", []*models.Param{p}, [][]float32{{1, 2, 3}}, "gradient of p has 3 values, want 2"},
	} {
		err := NewAdam(0.1).Step(c.params, c.grads)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
		if p.Data[0] != 1 || p.Data[1] != 2 {
			t.Fatalf("%s: a refused step changed the parameter to %v", c.name, p.Data)
		}
	}
}
