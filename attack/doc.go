// Package attack implements the adversarial attacks of the paper's evaluation against any
// model that exposes per-class losses and reconstructions.
package attack
