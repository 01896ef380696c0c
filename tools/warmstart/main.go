// Command warmstart measures whether the warm-started adaptive gradient
// (adversary.Adaptive with WarmStart) makes an attack at least as strong as the one whose
// every gradient runs the full inference: the same PGD-L2 (same random starts, same
// budget) with each gradient, on the same seeded random MNIST test images, every
// candidate judged by the model's own full inference with fresh noise (EOT 5,
// adversary.NewVerdict). It writes a JSON report with both robust accuracies, their 95%
// Clopper-Pearson intervals, the exact McNemar p-value of the paired flags and where
// each arm's inference time went.
//
// PGD here is a plain loop (random start in the L2 ball, steps along the normalised
// cross-entropy gradient, projection onto the ball and [0,1], a sample frozen at the
// first iterate its attacker classifies wrongly), so the comparison does not depend on
// the suite's PGD.
//
//	nice -n 10 go run ./tools/warmstart -n 50 -steps 20 -out results/mnist-eabs/warmstart-vs-full.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/eabs/eabs/adversary"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/tools/internal/probe"
)

type arm struct {
	Name         string                  `json:"name"`
	Warm         *adversary.WarmStart    `json:"warm,omitempty"`
	Robust       int                     `json:"robust"`
	RobustAcc    float64                 `json:"robust_accuracy"`
	CI95         [2]float64              `json:"ci95_clopper_pearson"`
	AttackerWins int                     `json:"attacker_believed_success"`
	Seconds      float64                 `json:"seconds"`
	GradCalls    int                     `json:"gradient_calls"`
	Stats        adversary.AdaptiveStats `json:"stats"`
	RobustFlags  []bool                  `json:"robust_flags"`
	L2           []float64               `json:"l2"`
}

type report struct {
	Command    []string      `json:"command"`
	Commit     string        `json:"commit"`
	Machine    string        `json:"machine"`
	Time       string        `json:"time"`
	Model      string        `json:"model"`
	Dataset    string        `json:"dataset"`
	Indices    []int         `json:"indices"`
	SampleSeed uint64        `json:"sample_seed"`
	Seed       uint64        `json:"seed"`
	Eps        float64       `json:"eps"`
	Steps      int           `json:"steps"`
	StepSize   float64       `json:"step_size"`
	AttackEOT  int           `json:"attack_eot"`
	VerdictEOT int           `json:"verdict_eot"`
	Inference  infer.Options `json:"inference"`
	Clean      int           `json:"clean_correct"`
	Arms       []*arm        `json:"arms"`
	// OnlyWarmRobust and OnlyFullRobust are the discordant pairs of the first warm arm
	// and the full arm; McNemarP is the exact two-sided p-value.
	OnlyWarmRobust int     `json:"only_warm_robust"`
	OnlyFullRobust int     `json:"only_full_robust"`
	McNemarP       float64 `json:"mcnemar_p"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "warmstart:", err)
		os.Exit(1)
	}
}

func run() error {
	model := flag.String("model", "zoo:mnist-eabs", "zoo model")
	dataDir := flag.String("data-dir", os.Getenv("EABS_DATA_DIR"), "data root")
	n := flag.Int("n", 50, "images (data.SampleIndices(10000, n, sample-seed) of the test split)")
	sampleSeed := flag.Uint64("sample-seed", 1, "seed of the image sample")
	seed := flag.Uint64("seed", 1, "seed of the random starts and the inference noise")
	steps := flag.Int("steps", 20, "PGD steps")
	eps := flag.Float64("eps", 1.5, "L2 budget")
	eot := flag.Int("eot", 1, "inference runs per attacker gradient")
	verdictEOT := flag.Int("verdict-eot", 5, "inference runs per verdict")
	warmSteps := flag.String("warm-steps", "5", "Adam steps per warm-started evaluation; a comma-separated list runs one warm arm per value")
	fullEvery := flag.Int("full-every", 10, "full search every this many warm-started evaluations")
	workers := flag.Int("workers", goruntime.NumCPU(), "concurrent inference runs")
	out := flag.String("out", "", "JSON report")
	fullFrom := flag.String("full-from", "", "take the full-inference arm from this earlier report (same images, seed, budget and verdict; checked) instead of rerunning it")
	flag.Parse()
	if *dataDir == "" {
		return fmt.Errorf("set -data-dir or EABS_DATA_DIR")
	}
	ex, err := probe.Export(*model)
	if err != nil {
		return err
	}
	defer ex.Close()
	m, err := ort.OpenModel(ex.Dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		return err
	}
	defer m.Close()
	opt := infer.DefaultOptions()
	e, err := infer.NewEngine(m, opt, nil)
	if err != nil {
		return err
	}
	ds, err := data.Load("mnist", *dataDir)
	if err != nil {
		return err
	}
	idx := data.SampleIndices(ds.Test.N, *n, *sampleSeed)
	set := ds.Test.Subset(idx)
	P := set.ImageSize()
	rep := &report{Command: os.Args, Commit: commit(), Machine: machine(), Time: time.Now().UTC().Format(time.RFC3339),
		Model: *model, Dataset: "mnist test", Indices: idx, SampleSeed: *sampleSeed, Seed: *seed, Eps: *eps, Steps: *steps,
		StepSize: 2.5 * *eps / float64(*steps), AttackEOT: *eot, VerdictEOT: *verdictEOT, Inference: opt}

	verdict := adversary.NewVerdict(e, *verdictEOT, *seed+1000, *workers)
	clean, err := verdict.Logits(set.Images, set.N)
	if err != nil {
		return err
	}
	correct := make([]bool, set.N)
	for b := range correct {
		correct[b] = floats.Argmax(clean[b*10:(b+1)*10]) == set.Labels[b]
		if correct[b] {
			rep.Clean++
		}
	}
	fmt.Fprintf(os.Stderr, "clean %d/%d\n", rep.Clean, set.N)
	var arms []*adversary.WarmStart
	for _, f := range strings.Split(*warmSteps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return fmt.Errorf("-warm-steps %q: want step counts separated by commas", *warmSteps)
		}
		arms = append(arms, &adversary.WarmStart{Steps: n, FullEvery: *fullEvery})
	}
	var prior *arm
	if *fullFrom != "" {
		if prior, err = fullArm(*fullFrom, rep); err != nil {
			return err
		}
	} else {
		arms = append(arms, nil)
	}
	for _, warm := range arms {
		a := &arm{Name: "full", Warm: warm}
		if warm != nil {
			a.Name = fmt.Sprintf("warm-%d", warm.Steps)
		}
		m := &adversary.Adaptive{Engine: e, EOT: *eot, Seed: *seed, Workers: *workers, Warm: warm}
		t0 := time.Now()
		adv, wins, calls, err := pgdL2(m, set.Images, set.Labels, set.N, *eps, rep.StepSize, *steps, rand.New(rand.NewPCG(*seed, 0x5EED)))
		if err != nil {
			return err
		}
		a.Seconds, a.GradCalls, a.AttackerWins, a.Stats = time.Since(t0).Seconds(), calls, wins, m.Stats()
		// A fresh verdict per arm, with the same noise seed: both arms' candidates are
		// judged by identically seeded full inference.
		v := adversary.NewVerdict(e, *verdictEOT, *seed+2000, *workers)
		l, err := v.Logits(adv, set.N)
		if err != nil {
			return err
		}
		a.RobustFlags, a.L2 = make([]bool, set.N), make([]float64, set.N)
		for b := 0; b < set.N; b++ {
			a.RobustFlags[b] = correct[b] && floats.Argmax(l[b*10:(b+1)*10]) == set.Labels[b]
			if a.RobustFlags[b] {
				a.Robust++
			}
			var s float64
			for j := b * P; j < (b+1)*P; j++ {
				d := float64(adv[j] - set.Images[j])
				s += d * d
			}
			a.L2[b] = math.Sqrt(s)
		}
		a.RobustAcc = float64(a.Robust) / float64(set.N)
		a.CI95 = clopperPearson(a.Robust, set.N, 0.05)
		fmt.Fprintf(os.Stderr, "%s: robust %d/%d in %.0fs (%+v)\n", a.Name, a.Robust, set.N, a.Seconds, a.Stats)
		rep.Arms = append(rep.Arms, a)
	}
	if prior != nil {
		rep.Arms = append(rep.Arms, prior)
	}
	full := rep.Arms[len(rep.Arms)-1]
	for b := 0; b < set.N; b++ {
		w, f := rep.Arms[0].RobustFlags[b], full.RobustFlags[b]
		if w && !f {
			rep.OnlyWarmRobust++
		}
		if f && !w {
			rep.OnlyFullRobust++
		}
	}
	rep.McNemarP = mcnemar(rep.OnlyWarmRobust, rep.OnlyFullRobust)
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = os.Stdout.Write(append(js, '\n'))
		return err
	}
	return atomicfile.WriteBytes(*out, append(js, '\n'))
}

// fullArm reads the full-inference arm of an earlier report after checking that it
// attacked the same images with the same budget, seeds and verdict.
func fullArm(path string, rep *report) (*arm, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var old report
	if err := json.Unmarshal(b, &old); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	same := old.Model == rep.Model && fmt.Sprint(old.Indices) == fmt.Sprint(rep.Indices) && old.Seed == rep.Seed && old.Eps == rep.Eps &&
		old.Steps == rep.Steps && old.AttackEOT == rep.AttackEOT && old.VerdictEOT == rep.VerdictEOT && old.Inference == rep.Inference
	if !same {
		return nil, fmt.Errorf("%s attacked other images or with another budget, seed or inference", path)
	}
	for _, a := range old.Arms {
		if a.Warm == nil {
			a.Name = "full (from " + path + ", commit " + old.Commit + ")"
			return a, nil
		}
	}
	return nil, fmt.Errorf("%s has no full-inference arm", path)
}

// pgdL2 is PGD-L2 on the cross-entropy with a random start; a sample stops at the
// first iterate its attacker classifies wrongly. It returns the candidates, how many
// the attacker believed adversarial and the gradient calls made.
func pgdL2(m *adversary.Adaptive, x []float32, y []int, batch int, eps, step float64, steps int, rng *rand.Rand) ([]float32, int, int, error) {
	P := len(x) / batch
	K := m.Classes()
	adv := append([]float32(nil), x...)
	for b := 0; b < batch; b++ {
		d := adv[b*P : (b+1)*P]
		dir := make([]float64, P)
		var s float64
		for i := range dir {
			dir[i] = rng.NormFloat64()
			s += dir[i] * dir[i]
		}
		r := eps * math.Pow(rng.Float64(), 1/float64(P)) / math.Sqrt(s)
		for i := range d {
			d[i] += float32(dir[i] * r)
		}
	}
	project(adv, x, batch, eps)
	done := make([]bool, batch)
	calls := 0
	cot := func(l []float32) []float32 {
		v := make([]float32, len(l))
		for b := 0; b < batch; b++ {
			row := l[b*K : (b+1)*K]
			mx := math.Inf(-1)
			for _, z := range row {
				mx = math.Max(mx, float64(z))
			}
			var s float64
			for _, z := range row {
				s += math.Exp(float64(z) - mx)
			}
			for k, z := range row {
				v[b*K+k] = float32(math.Exp(float64(z)-mx) / s)
			}
			v[b*K+y[b]]--
		}
		return v
	}
	for s := 0; s <= steps; s++ {
		var logits, g []float32
		var err error
		if s < steps {
			logits, g, err = m.LogitsVJP(adv, batch, cot)
			calls++
		} else {
			logits, err = m.Logits(adv, batch)
		}
		if err != nil {
			return nil, 0, 0, err
		}
		for b := 0; b < batch; b++ {
			if !done[b] && floats.Argmax(logits[b*K:(b+1)*K]) != y[b] {
				done[b] = true
			}
			if done[b] || g == nil {
				continue
			}
			gb, d := g[b*P:(b+1)*P], adv[b*P:(b+1)*P]
			var n2 float64
			for _, v := range gb {
				n2 += float64(v) * float64(v)
			}
			if n2 == 0 {
				continue
			}
			f := step / math.Sqrt(n2)
			for i, v := range gb {
				d[i] += float32(f * float64(v))
			}
		}
		project(adv, x, batch, eps)
		fmt.Fprintf(os.Stderr, "\rstep %d/%d", s, steps)
	}
	fmt.Fprintln(os.Stderr)
	wins := 0
	for _, d := range done {
		if d {
			wins++
		}
	}
	return adv, wins, calls, nil
}

func project(adv, x []float32, batch int, eps float64) {
	P := len(x) / batch
	for b := 0; b < batch; b++ {
		d, o := adv[b*P:(b+1)*P], x[b*P:(b+1)*P]
		var s float64
		for i := range d {
			v := float64(d[i] - o[i])
			s += v * v
		}
		if nrm := math.Sqrt(s); nrm > eps {
			f := float32(eps / nrm)
			for i := range d {
				d[i] = o[i] + (d[i]-o[i])*f
			}
		}
		for i := range d {
			d[i] = min(max(d[i], 0), 1)
		}
	}
}

// binomCDF is P(X <= k) for X ~ Binomial(n, p).
func binomCDF(k, n int, p float64) float64 {
	if k < 0 {
		return 0
	}
	if k >= n {
		return 1
	}
	var s float64
	for i := 0; i <= k; i++ {
		lg := func(v int) float64 { r, _ := math.Lgamma(float64(v) + 1); return r }
		s += math.Exp(lg(n) - lg(i) - lg(n-i) + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return math.Min(s, 1)
}

// clopperPearson is the exact two-sided 1-alpha interval for k successes of n, by
// bisection on the binomial CDF.
func clopperPearson(k, n int, alpha float64) [2]float64 {
	solve := func(f func(p float64) bool) float64 { // smallest p in [0,1] with f true, f monotone
		lo, hi := 0.0, 1.0
		for i := 0; i < 60; i++ {
			mid := (lo + hi) / 2
			if f(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		return hi
	}
	var ci [2]float64
	if k > 0 {
		// lower: P(X >= k | p) = alpha/2
		ci[0] = solve(func(p float64) bool { return 1-binomCDF(k-1, n, p) >= alpha/2 })
	}
	ci[1] = 1
	if k < n {
		// upper: P(X <= k | p) = alpha/2
		ci[1] = solve(func(p float64) bool { return binomCDF(k, n, p) <= alpha/2 })
	}
	return ci
}

// mcnemar is the exact two-sided McNemar p-value for discordant counts b and c.
func mcnemar(b, c int) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	return math.Min(1, 2*binomCDF(min(b, c), n, 0.5))
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	s := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		s += "+modified"
	}
	return s
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average at start " + strings.Fields(string(b))[0]
	}
	return fmt.Sprintf("%s, %d CPUs, %s/%s%s", model, goruntime.NumCPU(), goruntime.GOOS, goruntime.GOARCH, load)
}
