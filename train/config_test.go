package train

import (
	"math"
	"strings"
	"testing"
)

// TestCETemperatureConfig: --ce-temperature reaches the trained model's spec (the graph
// reads it there; graph.TestDiscriminativeTemperature checks the loss), is refused for
// a model without eq. 5's discriminative loss, and must be a positive finite number.
func TestCETemperatureConfig(t *testing.T) {
	cases := []struct {
		model string
		temp  float64
		want  float64 // the spec's CETemperature
		err   string
	}{
		{"eabs", 0, 1, ""},
		{"eabs", 10, 10, ""},
		{"d", 3, 3, ""},
		{"abs", 10, 0, "no discriminative loss"},
		{"cnn", 10, 0, "no discriminative loss"},
		{"eabs", math.NaN(), 0, "temperature"},
		{"eabs", math.Inf(1), 0, "temperature"},
		{"eabs", -1, 0, "temperature"},
	}
	for _, c := range cases {
		cfg := DefaultConfig("mnist", c.model)
		cfg.CETemperature = c.temp
		s, err := cfg.spec()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s, T %g: err %v, want one containing %q", c.model, c.temp, err, c.err)
			}
			continue
		}
		if err != nil || s.CETemperature() != c.want {
			t.Errorf("%s, T %g: spec temperature %g, err %v; want %g", c.model, c.temp, s.CETemperature(), err, c.want)
		}
	}
}
