package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/runtime"
)

// onnxFlags describe a plain .onnx classifier (onnx/adapt.Options), named like
// Foolbox's PyTorchModel arguments where those have names: --bounds, and --mean and
// --std for its preprocessing; --layout NHWC is TensorFlow's channels_last.
type onnxFlags struct {
	layout, bounds, mean, std, output, kind string
}

var onnxFlagNames = []string{"layout", "bounds", "mean", "std", "output-name", "output-kind"}

func (f *onnxFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.layout, "layout", "", "plain .onnx: the input's layout, NCHW or NHWC (default: read from the input shape)")
	fs.StringVar(&f.bounds, "bounds", "", "plain .onnx: the model's input range lo,hi; pixels in [0,1] are mapped onto it, budgets stay in [0,1] pixel units (default 0,1)")
	fs.StringVar(&f.mean, "mean", "", "plain .onnx: preprocessing (x - mean)/std after --bounds, one value or one per channel, comma-separated")
	fs.StringVar(&f.std, "std", "", "plain .onnx: preprocessing standard deviations (see --mean)")
	fs.StringVar(&f.output, "output-name", "", "plain .onnx: the output holding the scores (default: the only output)")
	fs.StringVar(&f.kind, "output-kind", "logits", "plain .onnx: what the output holds: logits, probabilities (attacks and results use their log) or log-probabilities")
}

// apply sets src's options from the flags and adapts the model once, so that a layout
// the graph contradicts, a missing output or a mean of the wrong length is refused
// before any data is read. The flags are refused for an eabs model.
func (f *onnxFlags) apply(cmd *cobra.Command, src *runtime.Source) error {
	if src.ONNX == "" {
		return refuse(cmd, "applies to a plain .onnx classifier; "+src.Arg+" is an eabs model", onnxFlagNames...)
	}
	var o adapt.Options
	var err error
	if o.Layout, err = adapt.ParseLayout(f.layout); err != nil {
		return fmt.Errorf("--layout: %w", err)
	}
	for _, l := range []struct {
		name, v string
		dst     *[]float64
	}{{"bounds", f.bounds, &o.Bounds}, {"mean", f.mean, &o.Mean}, {"std", f.std, &o.Std}} {
		if *l.dst, err = numberList(l.name, l.v); err != nil {
			return err
		}
	}
	o.Output, o.Kind = f.output, grad.OutputKind(f.kind)
	src.Adapt = o
	m, err := src.Adapted()
	if err != nil {
		return err
	}
	if m.Kind == grad.Probabilities {
		fmt.Fprintf(cmd.ErrOrStderr(), "model %s: output %q holds probabilities; scores, attacks and results use their log\n", src.Name(), m.Output)
	}
	return nil
}

// numberList parses a comma-separated list of finite numbers (or fractions a/b); ""
// is nil.
func numberList(name, s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for _, p := range strings.Split(s, ",") {
		v, err := parseBudget(p)
		if err != nil || !finite(v) {
			return nil, fmt.Errorf("--%s %s: %q is not a finite number", name, s, strings.TrimSpace(p))
		}
		out = append(out, v)
	}
	return out, nil
}

func finite(v float64) bool { return v-v == 0 }

// listRule is the flag rule of a number list: finite numbers, positive ones for
// --std, two increasing ones for --bounds.
func listRule(name, value string) error {
	v, err := numberList(name, value)
	if err != nil {
		return err
	}
	switch {
	case name == "bounds" && (len(v) != 2 || !(v[0] < v[1])):
		return fmt.Errorf("--bounds %s: want two numbers lo,hi with lo < hi", value)
	case name == "std":
		for _, x := range v {
			if !(x > 0) {
				return fmt.Errorf("--std %s: every standard deviation must be > 0", value)
			}
		}
	}
	return nil
}
