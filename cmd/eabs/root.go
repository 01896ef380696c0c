// Command eabs trains, exports, runs, attacks and certifies E-ABS robust classifiers.
//
// Each subcommand lives in its own file: it parses its flags into the options of one
// library call and prints what that call returns; no numerical work and no result
// format lives here.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/internal/buildinfo"
)

// Exit codes of the eabs binary.
const (
	exitOK    = 0
	exitError = 1
	// exitCheck is returned when a command ran but a check it performs failed
	// (for example a cross-check tolerance was broken).
	exitCheck = 2
	// A command ended by SIGINT or SIGTERM exits with 128+signal (130, 143), after
	// removing its temporary files (see signals.go).
)

// checkFailed is returned by commands whose work completed but whose verdict is negative.
type checkFailed struct{ msg string }

func (e checkFailed) Error() string { return e.msg }

// signalled is returned by a command that a signal stopped after it saved its work:
// the exit status is 128+signal, as for a process the signal ended.
type signalled struct{ sig os.Signal }

func (e signalled) Error() string { return fmt.Sprintf("stopped by %v", e.sig) }

func (e signalled) code() int {
	if e.sig == syscall.SIGTERM {
		return 143
	}
	return 130
}

// NewRootCmd builds the eabs command tree.
func NewRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "eabs",
		Short: "Train, export, run, attack and certify E-ABS robust classifiers",
		Long: `eabs trains E-ABS (Ju & Wagner 2020) and its baselines in Go, exports them to ONNX,
runs inference with ONNX Runtime or the Go-native reference graph, cross-checks the
runtimes against each other, attacks the models and computes certified lower bounds.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
		// Every numeric and output flag is checked before any command runs
		// (validate.go).
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return validateFlags(cmd) },
	}
	root.PersistentFlags().String("ort-lib", "", "path to libonnxruntime.so (default: $EABS_ORT_LIB, then ./third_party/onnxruntime)")
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	addCompletions(root)
	return root
}

// subcommands is filled by the init functions of the files that define commands, so
// each command lives in its own file and the root does not need editing to add one.
var subcommands []func() *cobra.Command

func register(f func() *cobra.Command) { subcommands = append(subcommands, f) }

func main() { os.Exit(mainCode()) }

// mainCode runs the binary and returns its exit code.
func mainCode() int {
	buildinfo.Collect() // the provenance as of the start (buildinfo.Collect)
	handleSignals()
	err := NewRootCmd().Execute()
	var sg signalled
	if sig, ok := received(); ok && err != nil && !errors.As(err, &sg) {
		// The cleanups the signal ran may have pulled files from under the command
		// (a temporary export ONNX Runtime was about to open), which then failed
		// before the handler's exit: the process still ends as signalled.
		err = fmt.Errorf("%w (%v)", signalled{sig}, err)
	}
	return exitCode(err, os.Stderr)
}

// exitCode prints a command's error and returns the binary's exit status for it.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "eabs:", err)
	var cf checkFailed
	if errors.As(err, &cf) {
		return exitCheck
	}
	var sg signalled
	if errors.As(err, &sg) {
		return sg.code()
	}
	return exitError
}

// version describes the binary: the commit stamped at build time (scripts/setup.sh
// builds with -buildvcs=true) and the Go release.
func version() string {
	commit, modified := buildinfo.Stamp()
	switch {
	case commit == "":
		commit = "unstamped build"
	case len(commit) > 12:
		commit = commit[:12]
	}
	if modified {
		commit += "+modified"
	}
	return fmt.Sprintf("%s (%s)", commit, goruntime.Version())
}
