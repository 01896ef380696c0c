package certify

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/shard"
)

// Result kinds (shard.Header.Kind) of the certificates' files.
const (
	Kind       = "certify"
	SmoothKind = "certify-smoothing"
)

// Report is a results file of the Appendix-A bound: the certificates of a sample (or a
// shard of it), how they were computed and validated, and their summary.
type Report struct {
	Provenance any               `json:"provenance,omitempty"`
	Header     shard.Header      `json:"header"`
	Label      string            `json:"label"`
	Model      string            `json:"model"`
	WeightsSHA string            `json:"weights_sha256"`
	Dataset    string            `json:"dataset"`
	Split      string            `json:"split"`
	Runtime    string            `json:"runtime"`
	Options    Options           `json:"options"`
	Validation *ValidationConfig `json:"validation,omitempty"`
	Summary    Summary           `json:"summary"`
	Seconds    float64           `json:"seconds"`
	PerImage   float64           `json:"seconds_per_image"`
	Results    []Result          `json:"results"`
}

// SmoothReport is a results file of randomized smoothing.
type SmoothReport struct {
	Provenance any            `json:"provenance,omitempty"`
	Header     shard.Header   `json:"header"`
	Label      string         `json:"label"`
	Model      string         `json:"model"`
	WeightsSHA string         `json:"weights_sha256"`
	Dataset    string         `json:"dataset"`
	Split      string         `json:"split"`
	Smoothing  Smoothing      `json:"smoothing"`
	Seed       uint64         `json:"seed"`
	Summary    SmoothSummary  `json:"summary"`
	Seconds    float64        `json:"seconds"`
	PerImage   float64        `json:"seconds_per_image"`
	Results    []SmoothResult `json:"results"`
}

// ValidationConfig is the validation's budget, recorded in every report next to the
// certificates it checked.
type ValidationConfig struct {
	Attacks []string `json:"attacks"`
	// Steps are PGD-L2's and DDN's steps (the paper's budget for both is 80),
	// Restarts PGD-L2's random restarts.
	Steps    int    `json:"pgd_steps"`
	Restarts int    `json:"pgd_restarts"`
	Seed     uint64 `json:"seed"`
	Runtime  string `json:"runtime"`
	// Warm is the attacker's warm start (Adam steps per gradient from the previous
	// iterate's z*; -1: full inference for every gradient), EOT the inference runs the
	// attacker averages on the deployed model, VerdictEOT the runs the deployed
	// model's verdict averages (the exact model needs one).
	Warm       int      `json:"warm_steps"`
	EOT        int      `json:"eot"`
	VerdictEOT int      `json:"verdict_eot"`
	Targets    []string `json:"targets"`
	// N is how many images (the first in sample order) were validated; 0: all.
	N int `json:"n"`
	// Workers does not change the validation.
	Workers int `json:"-"`
}

// Text says what the validation ran, for output and plot titles: only the attacks
// that did run, each with its own budget.
func (v *ValidationConfig) Text() string {
	warm := "full inference per gradient"
	if v.Warm >= 0 {
		warm = fmt.Sprintf("warm start %d step(s)", v.Warm)
	}
	var parts []string
	for _, a := range v.Attacks {
		switch a {
		case "pgd-l2":
			parts = append(parts, fmt.Sprintf("PGD-L2 %d steps x %d restarts", v.Steps, v.Restarts))
		case "ddn":
			parts = append(parts, fmt.Sprintf("DDN %d steps", v.Steps))
		default:
			parts = append(parts, a)
		}
	}
	return fmt.Sprintf("%s inside eps* (attacker %s, EOT %d on the deployed model; verdict EOT %d)",
		strings.Join(parts, ", "), warm, v.EOT, v.VerdictEOT)
}

// ReadReport reads a certify results file.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Header.Kind != Kind {
		return nil, fmt.Errorf("%s: a %q result, not a certify result", path, r.Header.Kind)
	}
	return &r, nil
}

// MergeReports joins the parts of one certify run, re-summarised from the merged
// per-image results.
func MergeReports(parts []shard.File) (*Report, error) {
	reps := make([]Report, len(parts))
	sp := make([]shard.Part[Result], len(parts))
	var seconds float64
	for i, p := range parts {
		if err := json.Unmarshal(p.Data, &reps[i]); err != nil {
			return nil, fmt.Errorf("merge: %s: %w", p.Name, err)
		}
		sp[i] = shard.Part[Result]{Name: p.Name, Header: reps[i].Header, Samples: reps[i].Results}
		seconds += reps[i].Seconds
	}
	h, res, sum, err := Merge(sp, Levels)
	if err != nil {
		return nil, err
	}
	sum.Label = reps[0].Summary.Label // what was certified: the same in every part
	out := reps[0]
	out.Provenance = partsProvenance(parts, reps, func(r Report) any { return r.Provenance })
	out.Header, out.Results, out.Summary, out.Seconds = h, res, sum, seconds
	out.PerImage = seconds / float64(max(len(res), 1))
	return &out, nil
}

// MergeSmoothReports joins the parts of one smoothing run.
func MergeSmoothReports(parts []shard.File) (*SmoothReport, error) {
	reps := make([]SmoothReport, len(parts))
	sp := make([]shard.Part[SmoothResult], len(parts))
	var seconds float64
	for i, p := range parts {
		if err := json.Unmarshal(p.Data, &reps[i]); err != nil {
			return nil, fmt.Errorf("merge: %s: %w", p.Name, err)
		}
		sp[i] = shard.Part[SmoothResult]{Name: p.Name, Header: reps[i].Header, Samples: reps[i].Results}
		seconds += reps[i].Seconds
	}
	h, res, sum, err := MergeSmoothing(sp, Levels)
	if err != nil {
		return nil, err
	}
	sum.Label = reps[0].Summary.Label
	out := reps[0]
	out.Provenance = partsProvenance(parts, reps, func(r SmoothReport) any { return r.Provenance })
	out.Header, out.Results, out.Summary, out.Seconds = h, res, sum, seconds
	out.PerImage = seconds / float64(max(len(res), 1))
	return &out, nil
}

// partsProvenance keeps every part's provenance, by file.
func partsProvenance[T any](parts []shard.File, reps []T, prov func(T) any) map[string]any {
	out := map[string]any{}
	for i, p := range parts {
		out[p.Name] = prov(reps[i])
	}
	return out
}

// WriteFiles writes the per-image CSV and the certified-accuracy curve (PNG) where
// asked ("" skips one); model names the classifier in the plot's title. eabs certify
// and eabs report --merge both write them, so a merged run's files equal a whole run's.
func (r *Report) WriteFiles(model, csvPath, plotPath string) error {
	if csvPath != "" {
		if err := r.WriteCSV(csvPath); err != nil {
			return err
		}
	}
	if plotPath == "" {
		return nil
	}
	title := fmt.Sprintf("%s, %s, %d images: eps*\n%s", model, r.Dataset, r.Summary.N, r.Label)
	return atomicfile.Write(plotPath, func(w io.Writer) error { return PlotCurve(w, r.Results, title) })
}

// WriteCSV writes one row per certificate.
func (r *Report) WriteCSV(path string) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# eps: %s\n", r.Label)
	w := csv.NewWriter(&buf)
	w.Write([]string{"index", "position", "label", "pred", "eps", "binding", "r", "l_label", "d_binding", "valid", "eps_spread", "d_spread", "binding_changed", "violated_exact", "violated_deployed"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, c := range r.Results {
		db := ""
		if c.Binding >= 0 {
			db = f(c.D[c.Binding])
		}
		ve, vd := "", ""
		if c.Validation != nil {
			for _, ch := range c.Validation.Checks {
				switch ch.Target {
				case "exact":
					ve = strconv.FormatBool(ch.Violated)
				case "deployed":
					vd = strconv.FormatBool(ch.Violated)
				}
			}
		}
		w.Write([]string{strconv.Itoa(c.Index), strconv.Itoa(c.Pos), strconv.Itoa(c.Label), strconv.Itoa(c.Pred), f(c.Eps), strconv.Itoa(c.Binding), f(c.R), f(c.L[c.Label]), db,
			strconv.FormatBool(c.Valid), f(c.EpsSpread), f(c.DSpread), strconv.FormatBool(c.BindingChanged), ve, vd})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}

// Violation is a validation's adversarial image inside a certificate, saved.
type Violation struct {
	Result Result
	Check  Check
	Base   string // the files Base.png and Base.f32
}

// SaveViolations writes every violation's adversarial image of the results into dir,
// as PNG and raw float32 (little endian, C*H*W), and returns them.
func SaveViolations(dir string, set *data.Set, rs []Result) ([]Violation, error) {
	var out []Violation
	for _, r := range rs {
		if r.Validation == nil {
			continue
		}
		for _, ch := range r.Validation.Checks {
			if !ch.Violated {
				continue
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return out, err
			}
			base := filepath.Join(dir, fmt.Sprintf("image%05d-%s-%s", r.Index, ch.Target, ch.Attack))
			var raw bytes.Buffer
			binary.Write(&raw, binary.LittleEndian, ch.Adv)
			if err := atomicfile.WriteBytes(base+".f32", raw.Bytes()); err != nil {
				return out, err
			}
			if err := atomicfile.Write(base+".png", func(w io.Writer) error { return png.Encode(w, toImage(ch.Adv, set.C, set.H, set.W)) }); err != nil {
				return out, err
			}
			out = append(out, Violation{Result: r, Check: ch, Base: base})
		}
	}
	return out, nil
}

func toImage(v []float32, c, h, w int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	px := func(ch, y, x int) uint8 {
		return uint8(math.Round(255 * math.Min(1, math.Max(0, float64(v[(ch*h+y)*w+x])))))
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if c == 1 {
				g := px(0, y, x)
				img.Set(x, y, color.RGBA{g, g, g, 255})
			} else {
				img.Set(x, y, color.RGBA{px(0, y, x), px(1, y, x), px(2, y, x), 255})
			}
		}
	}
	return img
}
