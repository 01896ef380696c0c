package cleanup

import (
	"os"
	"testing"
)

func TestTempDirAndRun(t *testing.T) {
	dir, remove, err := TempDir("cleanup-test-*")
	if err != nil {
		t.Fatal(err)
	}
	kept, removeKept, err := TempDir("cleanup-test-*")
	if err != nil {
		t.Fatal(err)
	}
	remove() // the normal path: gone, and no longer registered
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("remove left %s (%v)", dir, err)
	}
	ran := 0
	OnSignal(func() { ran++ })
	Run() // a signal: the registered folder and function
	if _, err := os.Stat(kept); !os.IsNotExist(err) {
		t.Errorf("Run left %s (%v)", kept, err)
	}
	if ran != 1 {
		t.Errorf("Run ran the registered function %d times, want 1", ran)
	}
	Run()
	removeKept()
	if ran != 1 {
		t.Errorf("a second Run ran it again (%d)", ran)
	}
}
