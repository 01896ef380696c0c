package main

import "math"

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
	"infer-beta":  floatRule(0, math.Inf(1), false),
	"eot":         intRule(1, inf),
	"bank-seed":   anyValue,
	"seed":        anyValue,
	// attacks
	"restarts":         intRule(1, inf),
	"eps":              floatRule(0, math.Inf(1), false), // 0: the paper's budget
	"eps-l2":           floatRule(0, math.Inf(1), true),  // omitted: the dataset profile's
	"eps-linf":         floatRule(0, 1, true),            // pixels are in [0,1]; omitted: the profile's
	"pgd-keep-going":   oneOf("auto", "on", "off"),
	"pgd-judge":        oneOf("auto", "off"),
	"pgd-restarts":     intRule(0, inf), // 0: the paper's for the dataset
	"attack-batch":     intRule(1, inf),
	"queries":          intRule(0, inf), // 0: each gradient-free attack's default
	"basin-targets":    intRule(0, inf), // 0: basin-l2's default
	"basin-candidates": intRule(0, inf),
	"warm-steps":       intRule(-1, inf), // -1: no warm start
	"warm-restart":     intRule(0, inf),  // 0: full search at a restart
	"warm-changed":     intRule(0, inf),  // 0: full search at a changed prediction
	"attack-steps":     intRule(1, inf),
	"attack-n":         intRule(0, 100), // demo: embedded test images to attack (0: skip)
	"verdict-eot":      intRule(1, inf),
	"verdict-retries":  intRule(-1, inf), // -1: auto (3 for generative models, else 0)
	"keep":             intRule(0, inf),
	"sweep-n":          intRule(0, inf),
	"sample-seed":      anyValue,
	"shard-count":      intRule(0, inf), // 0: not given
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
	"grid-n": intRule(0, inf),
	"points": intRule(2, inf),
	// training
	"epochs":           intRule(1, inf),
	"halve-every":      intRule(0, inf), // 0: 0.4*epochs
	"noise":            orDefault("-1", floatRule(0, math.Inf(1), false), "the paper's noise for the dataset"),
	"val-frac":         floatRule(0, 0.9, false),
	"max-train":        intRule(0, inf), // 0: all
	"checkpoint-steps": intRule(0, inf), // 0: epoch ends only
	"stop-after":       intRule(0, inf), // 0: run to the end
	"pgd-steps":        intRule(1, inf),
	"beta":             floatRule(0, math.Inf(1), false),
	"gamma":            floatRule(0, math.Inf(1), false),
	"ce-temperature":   floatRule(0, math.Inf(1), false),
	"disc-steps":       intRule(0, inf),                  // 0: one, the paper's
	"disc-lr":          floatRule(0, math.Inf(1), false), // 0: the run's --lr
	// data inspect: the grid is at most 100 x 43 images of 32x32 at 8x (~1.1 Gpx
	// would be 100 at 16x); data.WriteGrid also refuses oversized pictures.
	"per-class": intRule(1, 100),
	"scale":     intRule(1, 16),
	// outputs
	"json":       outFile,
	"csv":        outFile,
	"plot":       outFile,
	"out":        outFile, // a results file ({shard} is replaced per part)
	"out-dir":    outDir,
	"train/out":  outDir, // deprecated names of --out-dir
	"export/out": outDir,
	"demo/out":   outDir,
	"grid":       outFile,
	// plain .onnx classifiers (onnxflags.go)
	"bounds":      listRule,
	"mean":        listRule,
	"std":         listRule,
	"layout":      oneOf("NCHW", "NHWC", "nchw", "nhwc"),
	"output-kind": oneOf("logits", "probabilities", "log-probabilities"),
	"output-name": anyValue,
	"grad-images": intRule(0, inf), // crosscheck: 0 skips the gradients
	// choices, checked before any data is loaded
	"runtime":       oneOf("ort", "ref"),
	"split":         oneOf("test", "train", "val"),
	"inspect/split": oneOf("train", "test"),
}
