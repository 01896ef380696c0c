// Command benchsummary turns the raw outputs scripts/bench.sh collects in a folder
// into one table and one JSON file: per stage and engine the images/s, the FLOP rate
// and its fraction of the SGEMM peak measured in the same run (the benchmarks report
// them through internal/benchmetric), the PyTorch yardstick's images/s and the ratio
// to it, the code before (BENCH_BEFORE rows) and the ratio to it, and peak memory.
//
//	go run ./tools/benchsummary [-command "scripts/bench.sh ..."] [-commit SHA -modified] DIR
//
// It prints the Markdown table, and writes DIR/summary.md and DIR/summary.json (with
// the command, the commit and the machine: buildinfo.Provenance). The commit is the
// one bench.sh benchmarked (-commit, -modified: the checkout when it started), not the
// checkout's when the summary is written, which a long run can outlast.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/buildinfo"
)

func main() {
	command := flag.String("command", "", "the command line that made DIR (recorded in summary.json)")
	commit := flag.String("commit", "", "the commit the benchmarks were built from")
	modified := flag.Bool("modified", false, "with -commit: the checkout had uncommitted changes")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: benchsummary [-command CMD] [-commit SHA [-modified]] DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *command, *commit, *modified); err != nil {
		fmt.Fprintln(os.Stderr, "benchsummary:", err)
		os.Exit(1)
	}
}

// commitFromBench says where the recorded commit comes from when -commit gives it.
const commitFromBench = "scripts/bench.sh at start"

func run(dir, command, commit string, modified bool) error {
	s, err := Read(dir)
	if err != nil {
		return err
	}
	s.Provenance = buildinfo.NewProvenance()
	if command != "" {
		s.Provenance.Command = strings.Fields(command)
	}
	if commit != "" {
		s.Provenance.Build.Commit, s.Provenance.Build.Modified, s.Provenance.Build.CommitFrom = commit, modified, commitFromBench
	}
	var md bytes.Buffer
	s.Markdown(&md)
	os.Stdout.Write(md.Bytes())
	if err := atomicfile.WriteBytes(filepath.Join(dir, "summary.md"), md.Bytes()); err != nil {
		return err
	}
	return atomicfile.WriteJSON(filepath.Join(dir, "summary.json"), s)
}
