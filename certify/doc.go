// Package certify computes the per-sample certified lower bound eps* on the L2 distance to
// the nearest adversarial example (Ju & Wagner 2020, Appendix A) against the Go-native
// reference graph.
package certify
