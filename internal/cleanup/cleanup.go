// Package cleanup keeps the removals of temporary files and folders that must happen
// even when a signal ends the process: the library registers them where it makes the
// files (a temporary ONNX export, an export's staging folder), the command's signal
// handler runs them before it exits (a signal would otherwise end the process without
// running any defer), and normal returns unregister them after removing the files.
package cleanup

import (
	"os"
	"sync"
)

var registry struct {
	sync.Mutex
	next int
	fs   map[int]func()
}

// OnSignal registers f to run if a signal ends the process; the returned function
// unregisters it (call it once f's files are gone).
func OnSignal(f func()) (unregister func()) {
	registry.Lock()
	defer registry.Unlock()
	if registry.fs == nil {
		registry.fs = map[int]func(){}
	}
	id := registry.next
	registry.next++
	registry.fs[id] = f
	return func() {
		registry.Lock()
		delete(registry.fs, id)
		registry.Unlock()
	}
}

// Run runs and forgets every registered cleanup.
func Run() {
	registry.Lock()
	fs := registry.fs
	registry.fs = nil
	registry.Unlock()
	for _, f := range fs {
		f()
	}
}

// TempDir is os.MkdirTemp whose folder is also removed if a signal ends the process;
// remove deletes it (and its registration) on the normal path.
func TempDir(pattern string) (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, err
	}
	unregister := OnSignal(func() { os.RemoveAll(dir) })
	return dir, func() { os.RemoveAll(dir); unregister() }, nil
}
