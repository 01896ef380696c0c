// Package deploy holds the files that run eabs evaluations as the native parallel jobs
// of cluster engines (slurm/: a job array and a merge job depending on it; k8s/: an
// Indexed Job and a merge Job). It has no code; its tests validate the job files
// offline against the Kubernetes API types and the eabs command line, and
// scripts/slurm-test.sh runs the Slurm files on a real one-node cluster.
package deploy
