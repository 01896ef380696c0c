package cli

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
