package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// WantVersion is the ONNX Runtime release this package is built and tested against.
// onnxruntime_go v1.27.0 asks the library for C API version 24, which 1.24 provides.
const WantVersion = "1.24.1"

// EnvLibrary names the environment variable that overrides the library lookup.
const EnvLibrary = "EABS_ORT_LIB"

// libRel is where scripts/setup.sh installs the library, relative to the module root.
var libRel = filepath.Join("third_party", "onnxruntime", "libonnxruntime.so")

// ErrLibraryNotFound is returned, possibly wrapped, by LibraryPath (and so by Init(""))
// when no library file exists where it looked. Its message says how to install one.
var ErrLibraryNotFound = errors.New("ONNX Runtime " + WantVersion + " shared library not found; " +
	"run scripts/setup.sh, or set " + EnvLibrary + "=/path/to/libonnxruntime.so, or pass --ort-lib")

// LibraryPath returns the absolute path of the ONNX Runtime shared library to load. It
// returns the first of:
//
//   - flagValue, when not empty (the --ort-lib flag);
//   - $EABS_ORT_LIB, when set and not empty;
//   - third_party/onnxruntime/libonnxruntime.so in the current directory or one of its
//     parents, up to the module root (the directory holding go.mod);
//   - ../third_party/onnxruntime/libonnxruntime.so relative to the directory of the
//     running executable (bin/eabs in a checkout).
//
// A flag or variable naming a missing file is an error, not a reason to keep looking,
// so a typo never silently loads another library. The error wraps ErrLibraryNotFound.
// LibraryPath only checks that the file exists; Init loads it.
func LibraryPath(flagValue string) (string, error) {
	cwd, _ := os.Getwd()      // "" on error: skip the walk
	exe, _ := os.Executable() // "" on error: skip that candidate
	return findLibrary(flagValue, os.Getenv(EnvLibrary), cwd, exe)
}

// findLibrary is LibraryPath with its inputs made explicit, for tests.
func findLibrary(flagValue, envValue, cwd, exe string) (string, error) {
	if flagValue != "" {
		return explicitLibrary("--ort-lib", flagValue)
	}
	if envValue != "" {
		return explicitLibrary(EnvLibrary, envValue)
	}
	if cwd != "" {
		for dir := cwd; ; {
			if p := filepath.Join(dir, libRel); isFile(p) {
				return filepath.Abs(p)
			}
			if isFile(filepath.Join(dir, "go.mod")) {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if exe != "" {
		if p := filepath.Join(filepath.Dir(filepath.Dir(exe)), libRel); isFile(p) {
			return filepath.Abs(p)
		}
	}
	return "", ErrLibraryNotFound
}

// explicitLibrary checks a path the user gave through source (a flag or a variable).
func explicitLibrary(source, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s: %v; %w", source, err, ErrLibraryNotFound)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("%s: %s is a directory; %w", source, path, ErrLibraryNotFound)
	}
	return filepath.Abs(path)
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// The process-wide environment. onnxruntime_go keeps it in globals and can create it
// only once, so Init records the first outcome and returns it ever after.
var env struct {
	mu   sync.Mutex
	done bool   // Init has run
	path string // library Init loaded or tried to load
	err  error  // outcome of the first Init
}

// Init loads the ONNX Runtime shared library at libPath (LibraryPath("") when libPath
// is empty) and creates the process-wide environment, logging warnings and errors to
// stderr. It must be called before Open.
//
// Only the first call does any work. Later calls return the first call's error, or nil
// if it succeeded; after a success, a call naming a different library is an error.
// Loading a file that is not a shared library, not ONNX Runtime, or another ONNX
// Runtime release than 1.24 fails with an *Error (Op "init") and leaves the process
// usable, though without ONNX Runtime. When libPath is empty and LibraryPath("") finds
// nothing, Init returns LibraryPath's error.
func Init(libPath string) error {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.done {
		if env.err == nil && libPath != "" && !samePath(libPath, env.path) {
			return &Error{Op: "init", Path: libPath,
				Msg: "ONNX Runtime is already initialised with " + env.path + "; a process can load only one library"}
		}
		return env.err
	}
	env.done = true
	if libPath == "" {
		p, err := LibraryPath("")
		if err != nil {
			env.err = err
			return err
		}
		libPath = p
	}
	if abs, err := filepath.Abs(libPath); err == nil {
		libPath = abs
	}
	env.path = libPath
	env.err = initialize(libPath)
	return env.err
}

func samePath(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	return errA == nil && errB == nil && a == b
}

// initialize does the work of Init.
func initialize(libPath string) error {
	fail := func(msg string) error { return &Error{Op: "init", Path: libPath, Msg: msg} }
	if _, err := os.Stat(libPath); err != nil {
		return fail(fmt.Sprintf("%v; %v", err, ErrLibraryNotFound))
	}
	onnxruntime.SetSharedLibraryPath(libPath)
	if err := onnxruntime.InitializeEnvironment(onnxruntime.WithLogLevelWarning()); err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "Error looking up OrtGetApiBase"):
			msg = "not an ONNX Runtime library (it has no OrtGetApiBase symbol)"
		case strings.Contains(msg, "Error setting ORT API base"):
			// GetApi(ORT_API_VERSION) returned NULL: the library predates 1.24.
			// Do not call GetVersion here: its string lives in the unloaded library.
			msg = "this ONNX Runtime does not provide C API version 24; it is older than 1.24 (" + msg + ")"
		}
		return fail(fmt.Sprintf("cannot load ONNX Runtime %s: %s; run scripts/setup.sh, or set %s to a libonnxruntime.so %s",
			WantVersion, msg, EnvLibrary, WantVersion))
	}
	if v := onnxruntime.GetVersion(); !strings.HasPrefix(v, "1.24.") && v != "1.24" {
		_ = onnxruntime.DestroyEnvironment()
		return fail(fmt.Sprintf("found ONNX Runtime %s, need %s; run scripts/setup.sh, or set %s to a libonnxruntime.so %s",
			v, WantVersion, EnvLibrary, WantVersion))
	}
	return nil
}

// Version returns the version string of the loaded ONNX Runtime ("1.24.1"), or "" if
// Init has not succeeded.
func Version() string {
	env.mu.Lock()
	defer env.mu.Unlock()
	if !env.done || env.err != nil {
		return ""
	}
	return onnxruntime.GetVersion()
}

// initError returns nil if Init has succeeded, and otherwise an error for op on path
// that says why no session can be created.
func initError(op, path string) error {
	env.mu.Lock()
	defer env.mu.Unlock()
	switch {
	case !env.done:
		return &Error{Op: op, Path: path, Msg: "ort.Init has not been called"}
	case env.err != nil:
		return &Error{Op: op, Path: path, Msg: "ONNX Runtime is not available: " + env.err.Error()}
	}
	return nil
}
