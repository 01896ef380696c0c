package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/eabs/eabs/infer"
)

// Flag value types and the parsing of list and budget flags.

// lossAtFlag is the --loss-at flag: where the inference reads l_k (infer.LossAt).
type lossAtFlag struct{ v *infer.LossAt }

func (f lossAtFlag) String() string { return string(*f.v) }
func (f lossAtFlag) Type() string   { return "best|final" }
func (f lossAtFlag) Set(s string) error {
	v, err := infer.ParseLossAt(s)
	if err != nil {
		return err
	}
	*f.v = v
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseFactors(s string) ([]float64, error) {
	var out []float64
	for _, p := range splitList(s) {
		v, err := parseBudget(p)
		if err != nil || !(v > 1) {
			return nil, fmt.Errorf("--sweep-factors: %q is not a finite number > 1", p)
		}
		if slices.Contains(out, v) {
			return nil, fmt.Errorf("--sweep-factors: the factor %g is given twice", v)
		}
		out = append(out, v)
	}
	return out, nil
}

// budgetFlag is a perturbation budget: a number, or a fraction such as 8/255.
type budgetFlag float64

func (b *budgetFlag) String() string { return strconv.FormatFloat(float64(*b), 'g', -1, 64) }
func (b *budgetFlag) Type() string   { return "budget" }
func (b *budgetFlag) Set(s string) error {
	v, err := parseBudget(s)
	if err != nil {
		return err
	}
	*b = budgetFlag(v)
	return nil
}

func parseBudget(s string) (float64, error) {
	num, den, frac := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err == nil && frac {
		var d float64
		if d, err = strconv.ParseFloat(strings.TrimSpace(den), 64); err == nil {
			if !(d > 0) {
				return 0, fmt.Errorf("%q: the denominator must be positive", s)
			}
			v /= d
		}
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a number or a fraction a/b", s)
	}
	return v, nil
}
