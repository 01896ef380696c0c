package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/runtime"
	_ "github.com/eabs/eabs/runtime/ort"
)

type ev struct {
	name, zoo, ds string
	index, label  int
	file          string
}

var evidence = []ev{
	{"mnist-4280", "zoo:mnist-eabs", "mnist", 4280, 9, "/work/shared/evidence/mnist-eabs-test4280-l2-adversarial.f32"},
	{"fmnist-8158", "zoo:fashion-mnist-eabs", "fashion-mnist", 8158, 8, "/work/shared/evidence/fashion-mnist-eabs-test8158-l2-adversarial.f32"},
	{"fmnist-7668", "zoo:fashion-mnist-eabs", "fashion-mnist", 7668, 3, "/work/shared/evidence/fashion-mnist-eabs-test7668-l2-adversarial.f32"},
}

func readF32(path string) []float32 {
	b, err := os.ReadFile(path)
	check(err)
	if len(b) != 784*4 {
		panic(fmt.Sprintf("%s: %d bytes", path, len(b)))
	}
	v := make([]float32, 784)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}

var engines = map[string]*infer.Engine{}
var sets = map[string]*data.Set{}

func engine(zoo string) *infer.Engine {
	if e, ok := engines[zoo]; ok {
		return e
	}
	src, err := runtime.Load(zoo)
	check(err)
	m, err := runtime.Open("ort", src, runtime.Options{Threads: 1, Workers: 2, Library: "/work/main/third_party/onnxruntime/libonnxruntime.so"})
	check(err)
	e, err := infer.NewEngine(m, infer.DefaultOptions(), nil)
	check(err)
	engines[zoo] = e
	return e
}

func testSet(ds string) *data.Set {
	if s, ok := sets[ds]; ok {
		return s
	}
	d, err := data.Load(ds, "/work/shared/data")
	check(err)
	sets[ds] = d.Test
	return d.Test
}

func dists(a, b []float32) (l2, linf float64) {
	var s float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		s += d * d
		linf = math.Max(linf, d)
	}
	return math.Sqrt(s), linf
}

func argmax(v []float32) int {
	b := 0
	for i := range v {
		if v[i] > v[b] {
			b = i
		}
	}
	return b
}

func writeF32(path string, v []float32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	check(os.WriteFile(path, b, 0o644))
}
