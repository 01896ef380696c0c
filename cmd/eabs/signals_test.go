package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/runtime/ort"
)

// TestHelperMain is not a test: run by TestSignal... as a subprocess, it is the eabs
// binary (Main) with the arguments after "--".
func TestHelperMain(t *testing.T) {
	if os.Getenv("EABS_TEST_MAIN") != "1" {
		t.Skip("helper process")
	}
	for i, a := range os.Args {
		if a == "--" {
			os.Args = append([]string{"eabs"}, os.Args[i+1:]...)
			break
		}
	}
	os.Exit(mainCode())
}

// TestSignalRemovesTemporaryExport: SIGTERM and SIGINT during an ONNX Runtime
// classification (which runs from a temporary export of a zoo model) end the process
// with 128+signal and leave no temporary export folder behind.
func TestSignalRemovesTemporaryExport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess running ONNX Runtime")
	}
	if _, err := ort.LibraryPath(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGTERM, 143}, {syscall.SIGINT, 130}} {
		tmp := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMain$", "--",
			"classify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "100", "--runtime", "ort", "--workers", "1")
		cmd.Env = append(os.Environ(), "EABS_TEST_MAIN=1", "TMPDIR="+tmp)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the export is complete (its last file written) and ONNX
		// Runtime has had time to open it.
		deadline := time.Now().Add(60 * time.Second)
		var done []string
		for len(done) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			done, _ = filepath.Glob(filepath.Join(tmp, "eabs-export-*", "latent_step.onnx"))
		}
		time.Sleep(500 * time.Millisecond)
		exports, _ := filepath.Glob(filepath.Join(tmp, "eabs-export-*"))
		if len(exports) != 1 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%v: %d temporary exports while running (want 1); output:\n%s", c.sig, len(exports), out.String())
		}
		cmd.Process.Signal(c.sig)
		err := cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != c.code {
			t.Errorf("%v: exit code %d (%v), want %d; output:\n%s", c.sig, code, err, c.code, out.String())
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "eabs-export-*")); len(left) != 0 {
			t.Errorf("%v: temporary export left behind: %v", c.sig, left)
		}
	}
}
