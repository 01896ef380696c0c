// Package eval runs a list of attacks on a seeded random sample of test images and
// keeps, per sample, what a robustness table needs: the clean verdict, and per attack
// whether the sample is still robust at the attack's budget, the smallest adversarial
// distance found and the queries spent.
//
// The runner trusts no attack: every candidate is classified again by a separate
// verdict classifier (for E-ABS its full inference with fresh noise and EOT; for a
// CNN the CNN itself), distances are measured here in float64 (L2 and Linf), and a
// candidate breaks a sample only when the verdict misclassifies it within the budget.
// Attacks run in the order given, each only on the samples still robust in its norm
// (AutoAttack's protocol), so the "All" column of a norm is the per-sample worst case.
//
// Results are a function of (model, data, sample list, configuration) and each
// sample's position alone: attack randomness is seeded per attack and position, a
// randomised model that implements Reseeder or Keyed is seeded the same way, so a run
// split into shards (package shard) and merged, or killed and resumed from its state
// file, gives exactly the uninterrupted run's records (for models whose outputs on
// an image do not depend on the other images of its batch).
package eval

import (
	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/shard"
)

// Kind is the shard.Header kind of attack results.
const Kind = "attack"

// Entry is one attack of a run and the budget its candidates are judged at.
type Entry struct {
	Attack attack.Attack
	// Eps is the budget in Attack.Norm(). A bounded attack's candidates lie within it; a
	// minimum-norm attack's may not, and then only its distance is recorded.
	Eps float64
	// Bounded marks an attack whose candidates must lie within Eps (PGD, APGD): one
	// beyond it is an attack bug, rejected and counted. A minimum-norm attack's (DDN,
	// CW, DeepFool) candidates beyond Eps are measured, not rejected.
	Bounded bool
	// Suite names the list of attacks the entry came from, with its version
	// ("autoattack standard", AutoAttackSuite), or is empty for an attack named alone.
	Suite string
}

// AutoAttackSuite is Entry.Suite and AttackSpec.Suite of the attacks of a version of
// AutoAttack (attack.AutoAttack): "autoattack standard", which --attacks autoattack
// stands for, or "autoattack plus".
func AutoAttackSuite(version string) string { return "autoattack " + version }

// Keyed is a randomised classifier whose noise for each row comes from a key the
// runner gives (a function of the run's seed, the sample's position and the purpose of
// the call), so its verdicts do not depend on batching, sharding or resumption. A
// verdict classifier without it is called through Logits.
type Keyed interface {
	LogitsKeyed(x []float32, batch int, keys []uint64) ([]float32, error)
}

// Reseeder is a randomised attack model (E-ABS's adaptive gradient) whose noise can
// be reseeded; the runner reseeds it before each attack call from the run's seed, the
// attack and the first sample's position, so the attack's path is reproducible.
type Reseeder interface {
	Reseed(seed uint64)
}

// Config is one run.
type Config struct {
	// Header names the run: the caller fills model, data, dataset, split, sample seed,
	// sample size, shard and, in Config, every model-side setting that changes results
	// (runtime, inference options, EOT). The runner sets Kind and replaces Config by a
	// hash of it and of the run's own settings.
	Header shard.Header
	// Model is a display name for tables.
	Model   string
	Attacks []Entry
	// Sweep holds bounded attacks at larger budgets, re-run on the sample-list positions
	// below SweepN (every sample there that is classified correctly, whatever earlier
	// attacks did) for the accuracy-vs-eps self-check.
	Sweep  []Entry
	SweepN int
	// Seed seeds every attack's randomness and keyed verdict noise.
	Seed uint64
	// Batch is the number of samples between two state saves (and per verdict call).
	Batch int
	// AttackBatch is the number of samples per attack call. 1 makes results independent
	// of how the sample list is sharded (each sample gets its own random stream);
	// larger batches run faster on batched models but tie a sample's random stream to
	// the samples next to it.
	AttackBatch int
	// AttackAll runs every attack on every correctly classified sample, not only on
	// those still robust in its norm: per-attack columns are then each attack's own
	// accuracy, at a higher cost. The "All" columns are the same either way.
	AttackAll bool
	// Keep stores the clean image and each adversarial example of the positions below
	// Keep in the results, for figures.
	Keep int
	// State is the state file ("" for none): saved after every batch, resumed from.
	State string
	// After continues a complete earlier run of the same model on the same samples, or
	// on the first of them (a smaller sample size: the seeded sample is prefix-stable),
	// whose records must cover this shard's: its records are kept, and Attacks run after
	// its attacks, each only on the samples still robust in its norm (or on all, with
	// AttackAll), as if one run had listed them all. The result is that run: the same
	// settings, configuration hash and records, so attacks can be added to a costly run
	// (E-ABS) without repeating it, also to a part of it. Seed, Batch, AttackBatch, AttackAll, Keep, SweepN
	// and the caller's model settings must equal the earlier run's; its sweep is kept,
	// and Sweep may only add norms it did not sweep (the whole run's sweep of a norm
	// uses the norm's first bounded attack).
	After *Result
	// Retries attacks a sample again, with fresh random streams, when the attacker's
	// own inference believed its candidate adversarial and the verdict overturned it,
	// up to Retries times per attack. On a randomised model (E-ABS) that is how an
	// attack that stops early loses a sample it nearly had: PGD skips its remaining
	// restarts once it believes it won, and a later attack may break the sample at
	// once. Each retry is one more
	// candidate judged by a verdict with fresh noise, like one more attack in "All";
	// its queries add to the record's. 0 (the default) keeps earlier runs' results
	// and configuration hashes; it is recorded per attack (AttackSpec.Retries).
	Retries int
	// Reuse grows a run to more samples: a complete earlier run of the same model,
	// data, sample seed and configuration (the same Header.Config hash) on another
	// sample size. data.SampleIndices draws a prefix-stable sample, so its samples are
	// this run's first ones, and with AttackBatch 1 a sample's record depends only on
	// its position, its image and the configuration (keyed verdicts, a random stream
	// per sample): its records are copied and only the samples it did not cover are
	// attacked. The result equals a run without Reuse. Not with After.
	Reuse *Result
}
