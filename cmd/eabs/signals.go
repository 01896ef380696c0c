package main

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/eabs/eabs/internal/cleanup"
)

// Temporary files and folders are removed on every exit path: the normal ones by the
// defers of the code that made them, SIGINT and SIGTERM by the removals registered in
// internal/cleanup, which the handler here runs before the process exits.
var signals struct {
	sync.Mutex
	// graceful counts commands (train) that stop by themselves on a signal, after
	// writing what they must; while one runs, a first signal only runs the cleanups.
	graceful int
	handled  bool
	// sig is the first signal received (nil: none).
	sig os.Signal
}

// received returns the first SIGINT or SIGTERM the process got, if any.
func received() (os.Signal, bool) {
	signals.Lock()
	defer signals.Unlock()
	return signals.sig, signals.sig != nil
}

// stopsGracefully declares that the running command handles SIGINT and SIGTERM itself
// (through a context), so the first signal does not end the process; the returned
// function ends the declaration.
func stopsGracefully() (done func()) {
	signals.Lock()
	signals.graceful++
	signals.Unlock()
	return func() {
		signals.Lock()
		signals.graceful--
		signals.Unlock()
	}
}

// handleSignals is started by main: on SIGINT or SIGTERM it runs the cleanups and
// exits with 128+signal (130, 143), unless a command stops gracefully by itself; a
// second signal always exits.
func handleSignals() {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		for sig := range ch {
			signals.Lock()
			if signals.sig == nil {
				signals.sig = sig
			}
			signals.Unlock()
			cleanup.Run()
			signals.Lock()
			graceful := signals.graceful > 0 && !signals.handled
			signals.handled = true
			signals.Unlock()
			if graceful {
				continue
			}
			code := 130
			if sig == syscall.SIGTERM {
				code = 143
			}
			os.Exit(code)
		}
	}()
}
