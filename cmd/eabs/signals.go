package main

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Temporary files and folders are removed on every exit path: the normal ones by the
// commands' defers, SIGINT and SIGTERM by the cleanups registered here, which Main's
// signal handler runs before the process exits (a signal would otherwise end the
// process without running any defer).
var signals struct {
	sync.Mutex
	next     int
	cleanups map[int]func()
	// graceful counts commands (train) that stop by themselves on a signal, after
	// writing what they must; while one runs, a first signal only runs the cleanups.
	graceful int
	handled  bool
}

// onSignalCleanup registers f to run if SIGINT or SIGTERM ends the process; the
// returned function unregisters it (call it, deferred, once f's files are gone).
func onSignalCleanup(f func()) (unregister func()) {
	signals.Lock()
	defer signals.Unlock()
	if signals.cleanups == nil {
		signals.cleanups = map[int]func(){}
	}
	id := signals.next
	signals.next++
	signals.cleanups[id] = f
	return func() {
		signals.Lock()
		delete(signals.cleanups, id)
		signals.Unlock()
	}
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

// runCleanups runs and forgets every registered cleanup.
func runCleanups() {
	signals.Lock()
	fs := signals.cleanups
	signals.cleanups = nil
	signals.Unlock()
	for _, f := range fs {
		f()
	}
}

// handleSignals is started by Main: on SIGINT or SIGTERM it runs the cleanups and
// exits with 128+signal (130, 143), unless a command stops gracefully by itself; a
// second signal always exits.
func handleSignals() {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		for sig := range ch {
			runCleanups()
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
