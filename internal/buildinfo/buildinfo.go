// Package buildinfo describes the code and machine a result came from, for run
// manifests and result files: commit, Go and library versions, CPU, core count.
package buildinfo

import (
	"maps"
	"os"
	"os/exec"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Info is the provenance recorded next to every number eabs produces.
type Info struct {
	Commit   string `json:"commit"`
	Modified bool   `json:"modified"`
	// CommitFrom says where Commit and Modified come from: CommitFromBuild (the VCS
	// stamp of the build, exact) or CommitFromGit (the checkout's HEAD and status when
	// the process first asked, for a binary built without a stamp: go test, or
	// GOFLAGS=-buildvcs=false; right only if the binary was built from that checkout).
	CommitFrom string            `json:"commit_from,omitempty"`
	GoVersion  string            `json:"go_version"`
	GOOS       string            `json:"goos"`
	GOARCH     string            `json:"goarch"`
	GOMAXPROCS int               `json:"gomaxprocs"`
	NumCPU     int               `json:"num_cpu"`
	CPU        string            `json:"cpu"`
	Hostname   string            `json:"hostname"`
	Modules    map[string]string `json:"modules"`
}

// Stamp returns the commit recorded in the binary at build time ("" when built without
// VCS stamping) and whether the tree was modified; it runs no command.
func Stamp() (commit string, modified bool) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	return commit, modified
}

// Where Info.Commit comes from.
const (
	CommitFromBuild = "build stamp"
	CommitFromGit   = "git at start"
)

// Collect returns the provenance of the running binary, gathered once per process: a
// long run that writes its results hours after it started, while the checkout moves
// on, still records the commit it started from. The commit comes from the build's VCS
// stamp, or from git in the working directory when the binary was built without one
// (go test, -buildvcs=false); eabs's Main calls Collect first thing, so "at start"
// holds for the command line.
func Collect() Info {
	in := collected()
	in.Modules = maps.Clone(in.Modules)
	return in
}

var collected = sync.OnceValue(collect)

func collect() Info {
	in := Info{GoVersion: goruntime.Version(), GOOS: goruntime.GOOS, GOARCH: goruntime.GOARCH,
		GOMAXPROCS: goruntime.GOMAXPROCS(0), NumCPU: goruntime.NumCPU(), Modules: map[string]string{}}
	in.Hostname, _ = os.Hostname()
	in.CPU = cpuModel()
	in.Commit, in.Modified = Stamp()
	if in.Commit != "" {
		in.CommitFrom = CommitFromBuild
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			for _, want := range []string{"gorgonia.org/gorgonia", "gorgonia.org/tensor", "github.com/yalue/onnxruntime_go", "gonum.org/v1/gonum", "github.com/owulveryck/onnx-go"} {
				if d.Path == want {
					in.Modules[d.Path] = d.Version
				}
			}
		}
	}
	if in.Commit == "" {
		if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
			in.Commit = strings.TrimSpace(string(out))
			in.CommitFrom = CommitFromGit
			if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
				in.Modified = len(strings.TrimSpace(string(st))) > 0
			}
		}
	}
	return in
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.Index(line, ":"); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return ""
}

// Provenance is what every result file records about the run that made it: the
// command line, the build and machine (Collect), and the time it was written.
type Provenance struct {
	Command []string `json:"command"`
	Build   Info     `json:"build"`
	Time    string   `json:"time"`
}

// NewProvenance is the provenance of this process, now.
func NewProvenance() Provenance {
	return Provenance{Command: os.Args, Build: Collect(), Time: time.Now().UTC().Format(time.RFC3339)}
}
