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
var outputFlags = []string{"json", "csv", "plot", "out", "out-dir", "grid"}

// validateFlags checks every flag the user set against its rule, and that no two
// output flags name the same file (the second write would replace the first).
func validateFlags(cmd *cobra.Command) error {
	var errs []error
	outputs := map[string]string{}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if cur, ok := aliases[f.Name]; ok && cmd.Flags().Changed(cur) {
			errs = append(errs, fmt.Errorf("--%s is the old name of --%s: give one of them", f.Name, cur))
			return
		}
		if r := ruleFor(cmd, f.Name); r != nil {
			if err := r(f.Name, f.Value.String()); err != nil {
				errs = append(errs, err)
			}
		}
		if slices.Contains(outputFlags, f.Name) && f.Value.String() != "" && f.Value.String() != "-" {
			abs, _ := filepath.Abs(f.Value.String())
			if other, dup := outputs[abs]; dup {
				errs = append(errs, fmt.Errorf("--%s and --%s both name %s: one would replace the other", other, f.Name, f.Value.String()))
			}
			outputs[abs] = f.Name
		}
	})
	return errors.Join(errs...)
}
