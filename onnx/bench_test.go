package onnx_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eabs/eabs/onnx"
)

// BenchmarkDecoders times decoders.onnx and latent_step.onnx of the MNIST E-ABS model
// in ONNX Runtime for both decoder layouts:
//
//	go test ./onnx -run '^$' -bench Decoders -benchtime 20x
func BenchmarkDecoders(b *testing.B) {
	needORT(b)
	const seed = 12345678
	for _, layout := range []onnx.DecoderLayout{onnx.Grouped, onnx.Branches} {
		e := export(b, "mnist", "eabs", seed, layout)
		a := e.spec.Arch
		k, m := a.Classes, a.Latent
		for _, threads := range []int{1, 2} {
			for _, batch := range []int{1, 16, 128} {
				rng := rand.New(rand.NewPCG(seed, uint64(batch)))
				lat := i64(batch, k, m)
				z := feed{"z", lat, uniform(rng, batch*k*m, -1, 1)}
				b.Run(fmt.Sprintf("decoders/%s/threads=%d/batch=%d", layout, threads, batch), func(b *testing.B) {
					s := openSession(b, e.paths[onnx.RoleDecoders], []string{"z"}, []string{"rec"}, threads)
					s.run(b, z)
					b.ResetTimer()
					for b.Loop() {
						s.run(b, z)
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batch), "µs/image")
				})
				feeds := []feed{
					{"x", i64(batch, a.InC, a.InH, a.InW), uniform(rng, batch*a.Pixels(), 0, 1)},
					{"mu", lat, uniform(rng, batch*k*m, -1, 1)},
					{"logvar", lat, uniform(rng, batch*k*m, -1, 0)},
					{"eps", lat, uniform(rng, batch*k*m, -1, 1)},
				}
				b.Run(fmt.Sprintf("latent_step/%s/threads=%d/batch=%d", layout, threads, batch), func(b *testing.B) {
					s := openSession(b, e.paths[onnx.RoleLatentStep], []string{"x", "mu", "logvar", "eps"},
						[]string{"loss", "rec", "grad_mu", "grad_logvar"}, threads)
					s.run(b, feeds...)
					b.ResetTimer()
					for b.Loop() {
						s.run(b, feeds...)
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batch), "µs/image")
				})
			}
		}
	}
}

// BenchmarkDecoderLayouts runs the two layouts alternately and reports, per image,
// the fastest wall time of each and, with one thread, the mean CPU time (the process's
// user+system time, which other load on the machine hardly changes; with two threads
// ONNX Runtime's spinning workers would inflate it):
//
//	go test ./onnx -run '^$' -bench DecoderLayouts -benchtime 30x
func BenchmarkDecoderLayouts(b *testing.B) {
	needORT(b)
	const seed = 12345678
	layouts := []onnx.DecoderLayout{onnx.Grouped, onnx.Branches}
	exports := make([]*exported, len(layouts))
	for i, l := range layouts {
		exports[i] = export(b, "mnist", "eabs", seed, l)
	}
	a := exports[0].spec.Arch
	k, m := a.Classes, a.Latent
	for _, role := range []string{onnx.RoleDecoders, onnx.RoleLatentStep} {
		for _, threads := range []int{1, 2} {
			for _, batch := range []int{1, 16, 128} {
				rng := rand.New(rand.NewPCG(seed, uint64(batch)))
				lat := i64(batch, k, m)
				feeds := []feed{{"z", lat, uniform(rng, batch*k*m, -1, 1)}}
				ins, outs := []string{"z"}, []string{"rec"}
				if role == onnx.RoleLatentStep {
					feeds = []feed{
						{"x", i64(batch, a.InC, a.InH, a.InW), uniform(rng, batch*a.Pixels(), 0, 1)},
						{"mu", lat, uniform(rng, batch*k*m, -1, 1)},
						{"logvar", lat, uniform(rng, batch*k*m, -1, 0)},
						{"eps", lat, uniform(rng, batch*k*m, -1, 1)},
					}
					ins, outs = []string{"x", "mu", "logvar", "eps"}, []string{"loss", "rec", "grad_mu", "grad_logvar"}
				}
				b.Run(fmt.Sprintf("%s/threads=%d/batch=%d", role, threads, batch), func(b *testing.B) {
					sessions := make([]*session, len(layouts))
					for i, e := range exports {
						sessions[i] = openSession(b, e.paths[role], ins, outs, threads)
						sessions[i].run(b, feeds...)
					}
					best := make([]time.Duration, len(layouts))
					cpu := make([]time.Duration, len(layouts))
					runs := 0
					for b.Loop() {
						runs++
						for i, s := range sessions {
							start, startCPU := time.Now(), processCPU()
							s.run(b, feeds...)
							cpu[i] += processCPU() - startCPU
							if d := time.Since(start); best[i] == 0 || d < best[i] {
								best[i] = d
							}
						}
					}
					for i, l := range layouts {
						b.ReportMetric(float64(best[i].Microseconds())/float64(batch), string(l)+"-min-µs/image")
						if threads == 1 {
							b.ReportMetric(float64(cpu[i].Microseconds())/float64(runs*batch), string(l)+"-cpu-µs/image")
						}
					}
				})
			}
		}
	}
}
