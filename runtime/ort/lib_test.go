package ort

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// touch creates an empty file at path, with its directories.
func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindLibrary(t *testing.T) {
	// root/                      module root with a library
	//   go.mod
	//   third_party/onnxruntime/libonnxruntime.so
	//   pkg/sub/                 working directory
	//   bin/eabs                 executable
	// outer/                     library above a module root without one
	//   third_party/onnxruntime/libonnxruntime.so
	//   mod/go.mod
	//   mod/bin/eabs
	// exeonly/                   library next to the executable only
	//   third_party/onnxruntime/libonnxruntime.so
	//   bin/eabs
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	rootLib := filepath.Join(root, libRel)
	touch(t, filepath.Join(root, "go.mod"))
	touch(t, rootLib)
	if err := os.MkdirAll(filepath.Join(root, "pkg", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, filepath.Join(tmp, "outer", libRel))
	touch(t, filepath.Join(tmp, "outer", "mod", "go.mod"))
	exeOnlyLib := filepath.Join(tmp, "exeonly", libRel)
	touch(t, exeOnlyLib)
	other := filepath.Join(tmp, "other.so")
	touch(t, other)
	missing := filepath.Join(tmp, "missing.so")

	for _, test := range []struct {
		name                  string
		flag, env, cwd, exe   string
		want                  string // path, when no error is wanted
		wantErr, wantErrParts string // "" or substrings of the error (| separated)
	}{
		{name: "flag", flag: other, env: rootLib, cwd: root, want: other},
		{name: "env", env: other, cwd: root, want: other},
		{name: "walk from subdirectory", cwd: filepath.Join(root, "pkg", "sub"), want: rootLib},
		{name: "module root", cwd: root, want: rootLib},
		{name: "executable", cwd: tmp, exe: filepath.Join(tmp, "exeonly", "bin", "eabs"), want: exeOnlyLib},
		{name: "walk stops at go.mod", cwd: filepath.Join(tmp, "outer", "mod"),
			exe: filepath.Join(tmp, "outer", "mod", "bin", "eabs"), wantErr: ErrLibraryNotFound.Error()},
		{name: "flag missing", flag: missing, cwd: root,
			wantErrParts: "--ort-lib: stat " + missing + "|" + ErrLibraryNotFound.Error()},
		{name: "env missing", env: missing, cwd: root,
			wantErrParts: "EABS_ORT_LIB: stat " + missing + "|" + ErrLibraryNotFound.Error()},
		{name: "flag directory", flag: tmp, wantErrParts: "is a directory|" + ErrLibraryNotFound.Error()},
		{name: "nothing", wantErr: ErrLibraryNotFound.Error()},
	} {
		t.Run(test.name, func(t *testing.T) {
			got, err := findLibrary(test.flag, test.env, test.cwd, test.exe)
			if test.wantErr == "" && test.wantErrParts == "" {
				if err != nil || got != test.want {
					t.Fatalf("findLibrary = %q, %v; want %q, nil", got, err, test.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("findLibrary = %q, nil; want an error", got)
			}
			if !errors.Is(err, ErrLibraryNotFound) {
				t.Errorf("findLibrary error %v does not wrap ErrLibraryNotFound", err)
			}
			if test.wantErr != "" && err.Error() != test.wantErr {
				t.Errorf("findLibrary error = %q, want %q", err, test.wantErr)
			}
			for _, part := range strings.Split(test.wantErrParts, "|") {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("findLibrary error = %q, want it to contain %q", err, part)
				}
			}
		})
	}
}

func TestLibraryPathEnvMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so")
	t.Setenv(EnvLibrary, missing)
	_, err := LibraryPath("")
	const want = "ONNX Runtime 1.24.1 shared library not found; run scripts/setup.sh, " +
		"or set EABS_ORT_LIB=/path/to/libonnxruntime.so, or pass --ort-lib"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("LibraryPath(\"\") with %s=%s: error = %v, want it to name the file and say %q",
			EnvLibrary, missing, err, want)
	}
}

// Init works once per process, so the failing cases run in child processes: a crash
// there fails the test instead of killing the test binary.
const (
	childEnv     = "EABS_ORT_TEST_CHILD"
	childLibEnv  = "EABS_ORT_TEST_LIB"
	childWantEnv = "EABS_ORT_TEST_WANT"
)

func TestInitBadLibrary(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		initBadLibraryChild(t, os.Getenv(childLibEnv), os.Getenv(childWantEnv))
		return
	}
	text := filepath.Join(t.TempDir(), "libonnxruntime.so")
	if err := os.WriteFile(text, []byte("this is not a shared library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, lib, want string }{
		{"text file", text, "cannot load ONNX Runtime 1.24.1"},
		{"missing file", text + ".missing", "no such file"},
	}
	// A real shared library that is not ONNX Runtime.
	if libm := "/lib/x86_64-linux-gnu/libm.so.6"; isFile(libm) {
		cases = append(cases, struct{ name, lib, want string }{"other library", libm, "not an ONNX Runtime library"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestInitBadLibrary$", "-test.v")
			cmd.Env = append(os.Environ(), childEnv+"=1", childLibEnv+"="+c.lib, childWantEnv+"="+c.want)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child process for Init(%q): %v\n%s", c.lib, err, out)
			}
			t.Logf("child output:\n%s", out)
		})
	}
}

func initBadLibraryChild(t *testing.T, lib, want string) {
	if _, err := Open(filepath.Join("testdata", "add_mul.onnx"), Options{}); err == nil ||
		!strings.Contains(err.Error(), "ort.Init has not been called") {
		t.Errorf("Open before Init: error = %v, want one saying Init has not been called", err)
	}
	err := Init(lib)
	var e *Error
	if !errors.As(err, &e) || e.Op != "init" || e.Path != lib {
		t.Fatalf("Init(%q) = %v, want an *Error with Op init and Path %q", lib, err, lib)
	}
	for _, part := range []string{want, "scripts/setup.sh"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("Init(%q) = %v, want it to contain %q", lib, err, part)
		}
	}
	t.Logf("Init(%q) = %v", lib, err)
	if err2 := Init(lib); err2 != err {
		t.Errorf("second Init(%q) = %v, want the first error %v", lib, err2, err)
	}
	if err2 := Init(""); err2 != err {
		t.Errorf("Init(\"\") after a failed Init = %v, want the first error %v", err2, err)
	}
	if v := Version(); v != "" {
		t.Errorf("Version() after a failed Init = %q, want \"\"", v)
	}
	if _, err := Open(filepath.Join("testdata", "add_mul.onnx"), Options{}); err == nil ||
		!strings.Contains(err.Error(), "not available") {
		t.Errorf("Open after a failed Init: error = %v, want one saying ORT is not available", err)
	}
}
