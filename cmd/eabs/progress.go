package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// logEvery is how often a progress report goes to a writer that is not a terminal.
var logEvery = 30 * time.Second

// progress reports how far a long computation is: a redrawn bar on a terminal, and in
// logs and pipes (where a redrawn bar is noise, and nohup runs need to be followed) a
// timestamped line at most every logEvery and one at the end.
type progress struct {
	bar *progressbar.ProgressBar // nil when w is not a terminal

	mu          sync.Mutex
	w           io.Writer
	n           int
	desc        string
	start, last time.Time
	done        int
	// base units were done before this process began (Resumed): the rate and the
	// time left count only the rest.
	base     int
	finished bool
}

func newProgress(w io.Writer, n int, desc string) *progress {
	p := &progress{w: w, n: n, desc: desc, start: time.Now()}
	p.last = p.start
	if isTerminal(w) {
		p.bar = progressbar.NewOptions(n, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	return p
}

// Set records that done of the n units are finished.
func (p *progress) Set(done int) error {
	if p.bar != nil {
		return p.bar.Set(done)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = done
	if now := time.Now(); now.Sub(p.last) >= logEvery && done < p.n {
		p.last = now
		p.line(now)
	}
	return nil
}

// Resumed records that done units were finished before this process began (a run
// resumed from its state): the rate and the time left count only the units done from
// now on, not the resumed ones in the time since start-up.
func (p *progress) Resumed(done int) error {
	if p.bar != nil {
		return p.bar.Set(done)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.base, p.done, p.start = done, done, time.Now()
	return nil
}

// resumable returns a progress callback for suite.Run, whose first call reports the
// samples resumed from the run's state (Resumed).
func (p *progress) resumable() func(done, total int) {
	first := true
	return func(done, _ int) {
		if first {
			first = false
			p.Resumed(done)
			return
		}
		p.Set(done)
	}
}

// Finish ends the report.
func (p *progress) Finish() error {
	if p == nil {
		return nil
	}
	if p.bar != nil {
		return p.bar.Finish()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.finished {
		p.finished = true
		p.line(time.Now())
	}
	return nil
}

func (p *progress) line(now time.Time) {
	el := now.Sub(p.start)
	s := fmt.Sprintf("%s %s: %d/%d", now.UTC().Format("15:04:05"), p.desc, p.done, p.n)
	if p.done > p.base && el > 0 {
		rate := float64(p.done-p.base) / el.Seconds()
		s += fmt.Sprintf(" (%.3g/s", rate)
		if p.done < p.n {
			s += fmt.Sprintf(", %s left", time.Duration(float64(p.n-p.done)/rate*float64(time.Second)).Round(time.Second))
		}
		s += ")"
	}
	fmt.Fprintln(p.w, s)
}

// bars is one progress report per stage of a long run.
func bars(stderr io.Writer) (func(stage string, d, n int), func()) {
	m := map[string]*progress{}
	return func(stage string, d, n int) {
			if m[stage] == nil {
				m[stage] = newProgress(stderr, n, stage)
			}
			m[stage].Set(d)
		}, func() {
			for _, b := range m {
				b.Finish()
			}
		}
}
