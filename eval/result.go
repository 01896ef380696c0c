package eval

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/shard"
)

// AttackSpec is how an attack appears in the results.
type AttackSpec struct {
	Name    string      `json:"name"`
	Norm    attack.Norm `json:"norm"`
	Eps     float64     `json:"eps"`
	Bounded bool        `json:"bounded"`
	Options string      `json:"options"`
	// Retries is Config.Retries of the run that made the attack's records.
	Retries int `json:"retries,omitempty"`
	// Suite is Entry.Suite: the list of attacks this one came from and its version
	// ("autoattack standard"); absent for an attack named alone.
	Suite string `json:"suite,omitempty"`
}

// Settings are the run's own settings as recorded in the results.
type Settings struct {
	Attacks     []AttackSpec `json:"attacks"`
	Sweep       []AttackSpec `json:"sweep,omitempty"`
	SweepN      int          `json:"sweep_n"`
	Seed        uint64       `json:"seed"`
	Batch       int          `json:"batch"`
	AttackBatch int          `json:"attack_batch"`
	AttackAll   bool         `json:"attack_all"`
	Keep        int          `json:"keep"`
	// Model is the caller's description of the model-side settings.
	Model string `json:"model_config"`
}

// Record is one sample's results.
type Record struct {
	// Pos is the sample's position in the sample list, Index the image's index in the
	// split.
	Pos   int `json:"pos"`
	Index int `json:"index"`
	Label int `json:"label"`
	// CleanPred is the verdict on the clean image.
	CleanPred    int  `json:"clean_pred"`
	CleanCorrect bool `json:"clean_correct"`
	// Randomised is set when a second verdict on the clean image gave other logits.
	Randomised bool           `json:"randomised"`
	Attacks    []AttackRecord `json:"attacks"`
	Sweep      []AttackRecord `json:"sweep,omitempty"`
	Clean      []float32      `json:"clean,omitempty"`
}

// Position implements shard.Positioned.
func (r Record) Position() int { return r.Pos }

// AttackRecord is one attack's result on one sample.
type AttackRecord struct {
	Name string `json:"name"`
	// Ran is false when the attack was not run: the clean image is misclassified, or an
	// earlier attack of the same norm already broke the sample.
	Ran bool `json:"ran"`
	// Robust: the sample is classified correctly and this attack (with every earlier
	// one of its norm unless the run attacks all) found no verified adversarial example
	// within eps.
	Robust bool `json:"robust"`
	// Dist (the attack's norm), L2 and Linf measure the attack's candidate when the
	// verdict misclassifies it (at any distance); absent otherwise.
	Dist *float64 `json:"dist,omitempty"`
	L2   *float64 `json:"l2,omitempty"`
	Linf *float64 `json:"linf,omitempty"`
	// Pred is the verdict on the candidate (-1 when the attack did not run).
	Pred    int `json:"pred"`
	Queries int `json:"queries"`
	// GradRows, GradZero and GradNaN count the gradient rows the attack received while
	// attacking this sample (with AttackBatch > 1, its call's rows are all counted at
	// its first sample), and those all zero or with a NaN/Inf.
	GradRows int `json:"grad_rows"`
	GradZero int `json:"grad_zero"`
	GradNaN  int `json:"grad_nan"`
	// Retries is the number of times the attack ran again after the verdict
	// overturned its candidate (Config.Retries); Queries and the gradient counts
	// include theirs, and the record's candidate is the last attempt's.
	Retries int `json:"retries,omitempty"`
	// Overturned counts the attempts whose candidate the attacker's own inference
	// called adversarial and the verdict did not: how often a randomised model's noise
	// misled the attacker (the case Config.Retries answers).
	Overturned int `json:"overturned,omitempty"`
	// Rejected says why the candidate was not judged (outside [0,1], NaN, beyond a
	// bounded attack's budget): an attack bug, counted in the checks.
	Rejected string `json:"rejected,omitempty"`
	// Adv is the adversarial example (positions below Config.Keep, when one was found).
	Adv []float32 `json:"adv,omitempty"`
	// Eps is the budget (sweep records only; attack records' is in the settings).
	Eps float64 `json:"eps,omitempty"`
	// Scaled is the verdict on a minimum-norm attack's candidate moved out along its
	// direction to the budget, when the candidate lay inside it: both are judged, and
	// either breaks the sample.
	Scaled *ScaledCheck `json:"scaled,omitempty"`
}

// ScaledCheck is the verdict on a candidate scaled out to the budget.
type ScaledCheck struct {
	Pred int     `json:"pred"`
	Dist float64 `json:"dist"`
}

// Result is an attack results file: a whole run or one shard of it.
type Result struct {
	Header   shard.Header `json:"header"`
	Model    string       `json:"model"`
	Settings Settings     `json:"settings"`
	// Shape is C, H, W of the images; Classes the number of classes, ClassNames the
	// dataset's names of the labels (own data's folder names, say).
	Shape      [3]int   `json:"shape"`
	Classes    int      `json:"classes"`
	ClassNames []string `json:"class_names,omitempty"`
	Records    []Record `json:"records"`
	// Summary is derived from Records (Summarize) when the file is written.
	Summary *Summary `json:"summary,omitempty"`
	// Provenance is the writer's (command line, build, time); merged files list their
	// parts' in Parts.
	Provenance any      `json:"provenance,omitempty"`
	Parts      []string `json:"parts,omitempty"`
	// Complete is false in a state file of an unfinished run.
	Complete bool `json:"complete"`
}

// Norms returns the norms of the attacks, in first-use order.
func (r *Result) Norms() []attack.Norm {
	var out []attack.Norm
	for _, a := range r.Settings.Attacks {
		if !slices.Contains(out, a.Norm) {
			out = append(out, a.Norm)
		}
	}
	return out
}

// budget tolerance: attacks project in float32, so a candidate on the sphere of
// radius eps measures up to a few float32 ulps beyond it in float64.
const epsTol = 1e-5

func within(d, eps float64) bool { return d <= eps*(1+epsTol)+1e-7 }

func describe(a attack.Attack) string {
	if d, ok := a.(interface{ Describe() string }); ok {
		return d.Describe()
	}
	b, err := json.Marshal(a)
	if err != nil {
		return a.Name()
	}
	return string(b)
}

func specs(es []Entry, retries int) ([]AttackSpec, error) {
	out := make([]AttackSpec, len(es))
	seen := map[string]bool{}
	for i, e := range es {
		if e.Attack == nil {
			return nil, fmt.Errorf("suite: attack %d is nil", i)
		}
		if !(e.Eps > 0) || math.IsInf(e.Eps, 0) {
			return nil, fmt.Errorf("suite: attack %s: eps %g must be positive and finite", e.Attack.Name(), e.Eps)
		}
		if n := e.Attack.Norm(); n != attack.L2 && n != attack.Linf {
			return nil, fmt.Errorf("suite: attack %s: unknown norm %q", e.Attack.Name(), n)
		}
		out[i] = AttackSpec{Name: e.Attack.Name(), Norm: e.Attack.Norm(), Eps: e.Eps, Bounded: e.Bounded, Options: describe(e.Attack), Retries: retries, Suite: e.Suite}
		key := fmt.Sprintf("%s@%g", out[i].Name, e.Eps)
		if seen[key] {
			return nil, fmt.Errorf("suite: attack %s listed twice", out[i].Name)
		}
		seen[key] = true
	}
	return out, nil
}

// configHash is the Header.Config of a run: the caller's model settings and the run's.
func configHash(s Settings) string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// mix is SplitMix64's finaliser over a sequence of words: a seed per (run, purpose,
// position) that does not collide for nearby inputs.
func mix(words ...uint64) uint64 {
	var h uint64 = 0x9E3779B97F4A7C15
	for _, w := range words {
		h ^= w + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2)
		z := h
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		h = z ^ (z >> 31)
	}
	return h
}

// WriteFile writes r (its summary refreshed) to path atomically.
func WriteFile(path string, r *Result) error {
	if r.Complete {
		r.Summary = Summarize(r)
	}
	return writeResult(path, r)
}

func writeResult(path string, r any) error {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// ReadFile reads an attack results file.
func ReadFile(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeResult(path, b)
}

func decodeResult(name string, b []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.Header.Kind != Kind {
		return nil, fmt.Errorf("%s: a %q result, not an attack result", name, r.Header.Kind)
	}
	if len(r.Settings.Attacks) == 0 {
		return nil, fmt.Errorf("%s: no attacks in the settings", name)
	}
	for _, rec := range r.Records {
		if len(rec.Attacks) != len(r.Settings.Attacks) {
			return nil, fmt.Errorf("%s: sample %d has %d attack records for %d attacks", name, rec.Pos, len(rec.Attacks), len(r.Settings.Attacks))
		}
		for i, a := range rec.Attacks {
			if a.Name != r.Settings.Attacks[i].Name {
				return nil, fmt.Errorf("%s: sample %d: attack record %d is %q, want %q", name, rec.Pos, i, a.Name, r.Settings.Attacks[i].Name)
			}
		}
	}
	return &r, nil
}
