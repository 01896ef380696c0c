package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLogsWhenNotATerminal(t *testing.T) {
	defer func(d time.Duration) { logEvery = d }(logEvery)
	var buf bytes.Buffer

	logEvery = time.Hour
	p := newProgress(&buf, 10, "classify")
	p.Set(3)
	if buf.Len() != 0 {
		t.Fatalf("a report before logEvery passed: %q", buf.String())
	}
	p.Finish()
	p.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "classify: 3/10 (") {
		t.Fatalf("after Finish twice: %q, want one line with 3/10 and a rate", buf.String())
	}

	buf.Reset()
	logEvery = 0
	p = newProgress(&buf, 4, "certify")
	time.Sleep(time.Millisecond)
	p.Set(1)
	p.Set(2)
	p.Set(4) // done: the end is reported by Finish alone
	p.Finish()
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "certify: 2/4") || !strings.Contains(lines[1], "left)") || !strings.HasSuffix(lines[2], "/s)") {
		t.Fatalf("reports %q, want 1/4 and 2/4 with time left, then 4/4", lines)
	}
}

// TestProgressResumedCountsOnlyNewWork: a run resumed with 40 of 100 done that then
// does 10 in 10 s reports 1/s and 50 s left, not 5/s.
func TestProgressResumedCountsOnlyNewWork(t *testing.T) {
	defer func(d time.Duration) { logEvery = d }(logEvery)
	logEvery = time.Hour
	var buf bytes.Buffer
	p := newProgress(&buf, 100, "attack")
	tick := p.resumable()
	tick(40, 100)
	p.mu.Lock()
	p.start = p.start.Add(-10 * time.Second)
	p.done = 50
	p.line(p.start.Add(10 * time.Second))
	p.mu.Unlock()
	if got := buf.String(); !strings.Contains(got, "attack: 50/100 (1/s, 50s left)") {
		t.Errorf("resumed at 40, 10 more in 10 s: %q, want 1/s and 50s left", got)
	}
	// Without Resumed the same state reads 50 done since the start.
	buf.Reset()
	q := newProgress(&buf, 100, "attack")
	q.done = 50
	q.line(q.start.Add(10 * time.Second))
	if got := buf.String(); !strings.Contains(got, "(5/s, 10s left)") {
		t.Errorf("fresh run, 50 in 10 s: %q, want 5/s and 10s left", got)
	}
}
