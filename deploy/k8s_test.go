package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"
)

// readJob decodes a manifest strictly: an unknown or misspelt field (a schema error
// kubectl would reject) fails, as does a value of the wrong type.
func readJob(t *testing.T, path string) *batchv1.Job {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var j batchv1.Job
	if err := yaml.UnmarshalStrict(b, &j); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if j.APIVersion != "batch/v1" || j.Kind != "Job" || j.Name == "" {
		t.Fatalf("%s: apiVersion %q kind %q name %q; want batch/v1 Job with a name", path, j.APIVersion, j.Kind, j.Name)
	}
	spec := j.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", path, len(spec.Containers))
	}
	if spec.RestartPolicy != "Never" && spec.RestartPolicy != "OnFailure" {
		t.Errorf("%s: restartPolicy %q is not allowed for a Job", path, spec.RestartPolicy)
	}
	vols := map[string]bool{}
	for _, v := range spec.Volumes {
		vols[v.Name] = true
	}
	for _, m := range spec.Containers[0].VolumeMounts {
		if !vols[m.Name] {
			t.Errorf("%s: volumeMount %q names no volume", path, m.Name)
		}
	}
	return &j
}

func TestEvalJob(t *testing.T) {
	path := filepath.Join("k8s", "eabs-eval-job.yaml")
	j := readJob(t, path)
	s := j.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("%s: completionMode must be Indexed (each pod gets JOB_COMPLETION_INDEX)", path)
	}
	if s.Completions == nil || *s.Completions < 1 {
		t.Fatalf("%s: completions must be set", path)
	}
	c := s.Template.Spec.Containers[0]
	args := append(append([]string{}, c.Command[1:]...), c.Args...)
	want := fmt.Sprintf("--shard-count=%d", *s.Completions)
	joined := strings.Join(args, " ")
	for _, w := range []string{"--shard=auto", want} {
		if !strings.Contains(joined, w) {
			t.Errorf("%s: args %q lack %q (each pod must run its own shard of `completions`)", path, joined, w)
		}
	}
	if !strings.Contains(joined, "{shard}") && !strings.Contains(joined, "$(JOB_COMPLETION_INDEX)") {
		t.Errorf("%s: args %q: the output path names no shard ({shard} or $(JOB_COMPLETION_INDEX)): pods would overwrite each other", path, joined)
	}
}

func TestMergeJob(t *testing.T) {
	path := filepath.Join("k8s", "eabs-merge-job.yaml")
	j := readJob(t, path)
	c := j.Spec.Template.Spec.Containers[0]
	if len(c.Args) != 1 || !strings.HasPrefix(c.Args[0], "/eabs/bin/eabs report --merge ") {
		t.Fatalf("%s: want one shell line running eabs report --merge, got %q", path, c.Args)
	}
}

// TestStrictDecoding makes sure the validation can fail: a misspelt field in an
// otherwise valid manifest is refused.
func TestStrictDecoding(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("k8s", "eabs-eval-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typo := range [][2]string{{"completionMode", "completionMod"}, {"completions: 4", "completions: four"}} {
		var j batchv1.Job
		bad := strings.Replace(string(b), typo[0], typo[1], 1)
		if err := yaml.UnmarshalStrict([]byte(bad), &j); err == nil {
			t.Errorf("a manifest with %q for %q decoded without error", typo[1], typo[0])
		}
	}
}
