package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every numeric flag of every command is checked against its allowed range before a
// command runs (validateFlags, the root's PersistentPreRunE), with a message naming the
// flag and the range: a value outside it is an error, never silently replaced by
// another, so what a report records is what ran. Every output path flag is checked
// writable at the same point, before any long work.
//
// The helpers checkInt, checkFloat and checkWritable are also usable directly by a
// command for checks that depend on other flags.

// checkInt reports an error naming the flag unless lo <= v <= hi.
func checkInt(name string, v, lo, hi int) error {
	if v >= lo && v <= hi {
		return nil
	}
	return fmt.Errorf("--%s %d: %s", name, v, intRange(lo, hi))
}

func intRange(lo, hi int) string {
	switch {
	case hi == math.MaxInt:
		return fmt.Sprintf("must be at least %d", lo)
	case lo == math.MinInt:
		return fmt.Sprintf("must be at most %d", hi)
	}
	return fmt.Sprintf("must be between %d and %d", lo, hi)
}

// checkFloat reports an error naming the flag unless v is a finite number in
// [lo, hi] (in (lo, hi] when loOpen: a positive step size, a learning rate).
func checkFloat(name string, v, lo, hi float64, loOpen bool) error {
	ok := !math.IsNaN(v) && !math.IsInf(v, 0) && v <= hi && (v > lo || !loOpen && v == lo)
	if ok {
		return nil
	}
	return fmt.Errorf("--%s %v: %s", name, v, floatRange(lo, hi, loOpen))
}

func floatRange(lo, hi float64, loOpen bool) string {
	op := ">="
	if loOpen {
		op = ">"
	}
	if math.IsInf(hi, 1) {
		return fmt.Sprintf("must be a finite number %s %g", op, lo)
	}
	return fmt.Sprintf("must be a finite number %s %g and <= %g", op, lo, hi)
}

// checkWritable checks, without creating anything, that the file path can be
// written: it is not a directory, and its nearest existing ancestor directory accepts
// new files (probed with a temporary file that is removed at once).
func checkWritable(name, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--%s %s: is a directory, want a file name", name, path)
	}
	if isModelFile(path) {
		return fmt.Errorf("--%s %s: is a model, checkpoint or ONNX file, which a report does not replace; choose another name", name, path)
	}
	return probeDir(name, path, filepath.Dir(path))
}

// isModelFile says whether path is an existing model, checkpoint or ONNX file (by
// name, or by the eabs container's magic bytes).
func isModelFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	switch filepath.Ext(path) {
	case ".eabs", ".onnx":
		return true
	}
	var magic [8]byte
	n, _ := f.Read(magic[:])
	return string(magic[:n]) == "EABSFILE"
}

// checkWritableDir is checkWritable for an output directory (which may not exist yet).
func checkWritableDir(name, dir string) error {
	if dir == "" {
		return nil
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return fmt.Errorf("--%s %s: is a file, want a directory", name, dir)
	}
	return probeDir(name, dir, dir)
}

// probeDir finds dir's nearest existing ancestor and checks that a file can be
// created there.
func probeDir(name, path, dir string) error {
	for {
		st, err := os.Stat(dir)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("--%s %s: %s is a file, not a directory", name, path, dir)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--%s %s: %w", name, path, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	f, err := os.CreateTemp(dir, ".eabs-probe-*")
	if err != nil {
		return fmt.Errorf("--%s %s: cannot write there: %w", name, path, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// A flagRule checks one flag's value (as the flag prints it).
type flagRule func(name, value string) error

func intRule(lo, hi int) flagRule {
	return func(name, value string) error {
		v, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("--%s %s: not an integer", name, value)
		}
		return checkInt(name, v, lo, hi)
	}
}

func floatRule(lo, hi float64, loOpen bool) flagRule {
	return func(name, value string) error {
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return fmt.Errorf("--%s %s: not a number", name, value)
		}
		return checkFloat(name, v, lo, hi, loOpen)
	}
}

// orDefault also accepts the value that means "the default" (e.g. --noise -1).
func orDefault(def string, r flagRule, meaning string) flagRule {
	return func(name, value string) error {
		if value == def {
			return nil
		}
		if err := r(name, value); err != nil {
			return fmt.Errorf("%w (or %s: %s)", err, def, meaning)
		}
		return nil
	}
}

// withHint adds a hint to r's error.
func withHint(r flagRule, hint string) flagRule {
	return func(name, value string) error {
		if err := r(name, value); err != nil {
			return fmt.Errorf("%w (%s)", err, hint)
		}
		return nil
	}
}

// oneOf accepts the listed values of a string flag.
func oneOf(values ...string) flagRule {
	return func(name, value string) error {
		if slices.Contains(values, value) {
			return nil
		}
		return fmt.Errorf("--%s %q: want one of %s", name, value, strings.Join(values, ", "))
	}
}

// anyValue accepts every value of the flag's type (seeds).
func anyValue(string, string) error { return nil }

func outFile(name, value string) error { return checkWritable(name, value) }
func outDir(name, value string) error  { return checkWritableDir(name, value) }

const inf = math.MaxInt

// flagRules are the allowed values of every numeric and output flag, by flag name;
// "command/flag" entries override the name's rule for one command. A test
// (TestEveryFlagHasARule) fails when a numeric or output flag has none, so a new flag
// cannot skip validation.
var flagRules = map[string]flagRule{
	// images and batches
	"n":          withHint(intRule(1, inf), "--all uses the whole split"),
	"demo/n":     intRule(1, 100), // the embedded sample's test images
	"demo/check": intRule(1, 100), // firstN would read 0 as all
	"full":       intRule(0, inf),
	"batch":      intRule(1, inf),
	"workers":    intRule(1, 1024),
	"threads":    intRule(1, 1024),
	// inference
	"starts":      intRule(0, inf), // the encoder's start is always tried as well
	"steps":       intRule(0, inf), // 0 keeps the best start
	"infer-steps": intRule(0, inf),
	"lr":          floatRule(0, math.Inf(1), true),
	"infer-lr":    floatRule(0, math.Inf(1), true),
	"eot":         intRule(1, inf),
	"bank-seed":   anyValue,
	"seed":        anyValue,
	// attacks
	"attack/steps":    intRule(1, inf),
	"restarts":        intRule(1, inf),
	"eps":             floatRule(0, math.Inf(1), false), // 0: the paper's budget
	"eps-l2":          floatRule(0, math.Inf(1), false), // 0: the paper's budget
	"eps-linf":        floatRule(0, 1, false),           // pixels are in [0,1]; 0: the paper's
	"pgd-keep-going":  oneOf("auto", "on", "off"),
	"pgd-restarts":    intRule(0, inf), // 0: the paper's for the dataset
	"attack-batch":    intRule(1, inf),
	"queries":         intRule(0, inf),  // 0: each gradient-free attack's default
	"warm-steps":      intRule(-1, inf), // -1: no warm start
	"warm-restart":    intRule(0, inf),  // 0: full search at a restart
	"warm-changed":    intRule(0, inf),  // 0: full search at a changed prediction
	"attack-steps":    intRule(1, inf),
	"attack-n":        intRule(0, 100), // demo: embedded test images to attack (0: skip)
	"verdict-eot":     intRule(1, inf),
	"verdict-retries": intRule(-1, inf), // -1: auto (3 for generative models, else 0)
	"keep":            intRule(0, inf),
	"sweep-n":         intRule(0, inf),
	"sample-seed":     anyValue,
	"shard-count":     intRule(0, inf), // 0: not given
	// certify
	"chunk":                intRule(1, inf),
	"max-restarts":         intRule(0, inf), // 0: --restarts
	"d-tol":                floatRule(0, math.Inf(1), false),
	"audit-banks":          intRule(1, inf),
	"audit-starts":         intRule(1, inf),
	"audit-seed":           anyValue,
	"audit-top":            intRule(1, inf),
	"audit-steps":          intRule(1, inf),
	"audit-tol":            floatRule(0, math.Inf(1), false),
	"mem-limit":            intRule(0, inf), // MiB; 0: Go's default
	"validate-n":           intRule(0, inf), // 0: every certified image
	"validate-steps":       intRule(1, inf),
	"validate-restarts":    intRule(1, inf),
	"validate-warm":        intRule(-1, inf), // -1: full inference per gradient
	"validate-eot":         intRule(1, inf),
	"validate-verdict-eot": intRule(1, inf),
	"validate-workers":     intRule(1, 1024),
	"validate-seed":        anyValue,
	"smoothing":            floatRule(0, math.Inf(1), false), // 0: off (the Appendix-A bound)
	"n0":                   intRule(1, inf),
	"samples":              intRule(1, inf),
	"alpha":                floatRule(0, 0.5, true),
	"smooth-batch":         intRule(1, inf),
	// report
	"grid-n":    intRule(0, inf),
	"points":    intRule(2, inf),
	"step-size": floatRule(0, math.Inf(1), false), // 0: 2.5*eps/steps
	// training
	"epochs":           intRule(1, inf),
	"halve-every":      intRule(0, inf), // 0: 0.4*epochs
	"noise":            orDefault("-1", floatRule(0, math.Inf(1), false), "the paper's noise for the dataset"),
	"val-frac":         floatRule(0, 0.9, false),
	"max-train":        intRule(0, inf), // 0: all
	"checkpoint-steps": intRule(0, inf), // 0: epoch ends only
	"stop-after":       intRule(0, inf), // 0: run to the end
	"pgd-steps":        intRule(1, inf),
	// data inspect: the grid is at most 100 x 43 images of 32x32 at 8x (~1.1 Gpx
	// would be 100 at 16x); data.WriteGrid also refuses oversized pictures.
	"per-class": intRule(1, 100),
	"scale":     intRule(1, 16),
	// outputs
	"json":       outFile,
	"csv":        outFile,
	"figure":     outFile,
	"plot":       outFile,
	"out":        outFile, // a results file ({shard} is replaced per part)
	"out-dir":    outDir,
	"train/out":  outDir, // deprecated names of --out-dir
	"export/out": outDir,
	"demo/out":   outDir,
	"grid":       outFile,
	// choices, checked before any data is loaded
	"runtime":       oneOf("ort", "ref"),
	"split":         oneOf("test", "train", "val"),
	"inspect/split": oneOf("train", "test"),
}

// ruleFor returns the rule of a command's flag (nil: none).
func ruleFor(cmd *cobra.Command, flag string) flagRule {
	if r, ok := flagRules[cmd.Name()+"/"+flag]; ok {
		return r
	}
	return flagRules[flag]
}

// needsRule says whether a flag must have a rule: numbers, and the output flags.
func needsRule(f *pflag.Flag) bool {
	switch f.Value.Type() {
	case "int", "int64", "int32", "uint", "uint64", "uint32", "float64", "float32", "duration":
		return true
	}
	return slices.Contains(outputFlags, f.Name)
}

// outputFlags are the flags naming a file a command writes.
var outputFlags = []string{"json", "csv", "figure", "plot", "out", "out-dir", "grid"}

// validateFlags checks every flag the user set against its rule, and that no two
// output flags name the same file (the second write would replace the first).
func validateFlags(cmd *cobra.Command) error {
	var errs []error
	outputs := map[string]string{}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if r := ruleFor(cmd, f.Name); r != nil {
			if err := r(f.Name, f.Value.String()); err != nil {
				errs = append(errs, err)
			}
		}
		if slices.Contains(outputFlags, f.Name) && f.Value.String() != "" {
			abs, _ := filepath.Abs(f.Value.String())
			if other, dup := outputs[abs]; dup {
				errs = append(errs, fmt.Errorf("--%s and --%s both name %s: one would replace the other", other, f.Name, f.Value.String()))
			}
			outputs[abs] = f.Name
		}
	})
	return errors.Join(errs...)
}
