package graph

import (
	"fmt"
	goruntime "runtime"
	"sync"
	"testing"
)

// TestSplitAndSpread checks the two ways kernels share out work: split cuts [0, n)
// into the same min(parts, n) contiguous ranges whatever GOMAXPROCS is, and spread
// calls every piece exactly once with a worker index below threads(n).
func TestSplitAndSpread(t *testing.T) {
	for _, procs := range []int{1, 2, 3, 8} {
		for _, n := range []int{0, 1, 2, 3, 7, 64} {
			name := fmt.Sprintf("GOMAXPROCS %d, n %d", procs, n)
			func() {
				defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(procs))
				var mu sync.Mutex
				got := map[int][2]int{}
				split(n, func(part, lo, hi int) {
					mu.Lock()
					defer mu.Unlock()
					if _, dup := got[part]; dup {
						t.Errorf("%s: split ran part %d twice", name, part)
					}
					got[part] = [2]int{lo, hi}
				})
				p := min(parts, n)
				if len(got) != p {
					t.Errorf("%s: split ran %d parts, want %d", name, len(got), p)
				}
				for i := 0; i < p; i++ {
					if want := [2]int{i * n / p, (i + 1) * n / p}; got[i] != want {
						t.Errorf("%s: split part %d = %v, want %v", name, i, got[i], want)
					}
				}
				calls := make([]int, n)
				spread(n, func(wk, i int) {
					if wk < 0 || wk >= threads(n) {
						t.Errorf("%s: spread worker %d, want below %d", name, wk, threads(n))
					}
					mu.Lock()
					calls[i]++
					mu.Unlock()
				})
				for i, c := range calls {
					if c != 1 {
						t.Errorf("%s: spread called piece %d %d times, want 1", name, i, c)
					}
				}
			}()
		}
	}
}
