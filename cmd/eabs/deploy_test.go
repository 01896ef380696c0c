package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"
)

// TestDeployJobArgs parses the eabs invocations of the shipped Kubernetes jobs with
// the real command tree, so a manifest that names a flag eabs does not have (or gives
// it a bad value) fails here, not on the cluster. (The deploy package checks the
// manifests' structure.)
func TestDeployJobArgs(t *testing.T) {
	for _, name := range []string{"eabs-eval-job.yaml", "eabs-merge-job.yaml"} {
		path := filepath.Join("..", "..", "deploy", "k8s", name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var j batchv1.Job
		if err := yaml.UnmarshalStrict(b, &j); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		c := j.Spec.Template.Spec.Containers[0]
		args := append(append([]string{}, c.Command[1:]...), c.Args...)
		if len(c.Args) == 1 && strings.HasPrefix(c.Args[0], "/eabs/bin/eabs ") { // a shell line
			args = strings.Fields(strings.TrimPrefix(c.Args[0], "/eabs/bin/eabs "))
		}
		root := NewRootCmd()
		cmd, rest, err := root.Find(args)
		if err != nil || cmd == root {
			t.Fatalf("%s: eabs %s: no such command (%v)", path, strings.Join(args, " "), err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("%s: eabs %s: %v", path, strings.Join(args, " "), err)
		}
	}
}
