package buildinfo

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCollectIsTheStartsProvenance: a long run records the commit it started from, even
// when the working directory (or the checkout) has changed by the time it writes its
// results. Under go test the binary has no VCS stamp, so the commit comes from git.
func TestCollectIsTheStartsProvenance(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout: %v", err)
	}
	first := Collect()
	if first.Commit != strings.TrimSpace(string(head)) || first.CommitFrom != CommitFromGit {
		t.Fatalf("Collect: commit %q from %q, want HEAD %s from %q", first.Commit, first.CommitFrom, head, CommitFromGit)
	}
	t.Chdir(t.TempDir()) // no repository here: a fresh look would find no commit
	later := Collect()
	if later.Commit != first.Commit || later.Modified != first.Modified || later.CommitFrom != first.CommitFrom {
		t.Errorf("Collect after a chdir: %q %v %q, want the start's %q %v %q", later.Commit, later.Modified, later.CommitFrom, first.Commit, first.Modified, first.CommitFrom)
	}
	later.Modules["x"] = "y"
	if _, ok := Collect().Modules["x"]; ok {
		t.Error("a caller's change to Modules leaked into the next Collect")
	}
}
