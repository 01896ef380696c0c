package graph

import (
	goruntime "runtime"
	"sync"
)

// Samples runs a batch-1 program once per sample, spread over workers that each own a
// copy of the program.
//
// Evaluation graphs run through it so that a sample's outputs never depend on the
// other samples of its batch. A batched GEMM is not bitwise row-independent: which
// micro-kernel computes a row, and so the order of its sums, depends on the matrix
// shape and the row's position in it, and differs between OpenBLAS's CPU kernels
// (OPENBLAS_CORETYPE). Run one sample at a time, every sample goes through the same
// calls with the same shapes whatever batch, position, shard or worker count it came
// with, so a sharded run merges into exactly the unsharded one.
type Samples[T float32 | float64] struct {
	build func() (*Program[T], error)
	mu    sync.Mutex
	idle  []*Program[T]
	all   []*Program[T]
}

// NewSamples returns a pool of batch-1 programs made by build on first use.
func NewSamples[T float32 | float64](build func() (*Program[T], error)) *Samples[T] {
	return &Samples[T]{build: build}
}

func (s *Samples[T]) get() (*Program[T], error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		p := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return p, nil
	}
	s.mu.Unlock()
	p, err := s.build()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.all = append(s.all, p)
	s.mu.Unlock()
	return p, nil
}

func (s *Samples[T]) put(p *Program[T]) {
	s.mu.Lock()
	s.idle = append(s.idle, p)
	s.mu.Unlock()
}

// Each calls f(p, i) for every sample i in [0, n), each call with a program of its
// own (f sets p's inputs for sample i, runs it and copies the outputs it needs);
// samples run concurrently on up to GOMAXPROCS workers. It returns the first error.
func (s *Samples[T]) Each(n int, f func(p *Program[T], i int) error) error {
	w := min(n, goruntime.GOMAXPROCS(0))
	if w < 1 {
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		next  int
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := s.get()
			if err != nil {
				fail(err)
				return
			}
			defer s.put(p)
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if stop || i >= n {
					return
				}
				if err := f(p, i); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// Close releases every program the pool made.
func (s *Samples[T]) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.all {
		p.Close()
	}
	s.all, s.idle = nil, nil
}
