package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/internal/atomicfile"
)

// What the commands write and print, and how they stop on a signal.

// writeResult writes v as indented JSON to path atomically ("-": standard output).
func writeResult(cmd *cobra.Command, path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", path)
	return nil
}

// signalContext is cancelled by SIGINT or SIGTERM (Slurm's and Kubernetes' stop) for
// a command that saves its work and stops by itself (stopsGracefully): stopped returns
// the signal as the command's error (exit status 128+signal), or nil when none came.
func signalContext(cmd *cobra.Command) (ctx context.Context, stop func(), stopped func() error) {
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	var mu sync.Mutex
	var got os.Signal
	go func() {
		if s, ok := <-sigs; ok {
			mu.Lock()
			got = s
			mu.Unlock()
			cancel()
		}
	}()
	graceful := stopsGracefully()
	stop = func() {
		signal.Stop(sigs)
		close(sigs)
		cancel()
		graceful()
	}
	stopped = func() error {
		mu.Lock()
		defer mu.Unlock()
		if got == nil {
			return nil
		}
		return signalled{got}
	}
	return ctx, stop, stopped
}

// checkOutputs refuses, before any work, a results file that would replace a finished
// one (unless force) and a state file that is the results file itself: the state is
// deleted when the run finishes.
func checkOutputs(out, state string, force bool) error {
	if out == "-" {
		return nil
	}
	if state != "" {
		a, _ := filepath.Abs(out)
		b, _ := filepath.Abs(state)
		if a == b {
			return fmt.Errorf("--state %s is the results file: the state is removed when the run finishes; give another --state", state)
		}
	}
	if _, err := os.Stat(out); err == nil && !force {
		return fmt.Errorf("%s exists: a finished results file is not replaced without --force (write elsewhere, or pass --force)", out)
	}
	return nil
}
