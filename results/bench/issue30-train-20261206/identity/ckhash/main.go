//go:build ignore

// ckhash prints the first 8 bytes of the SHA-256 of a training checkpoint's weights,
// Adam moments and RNG state, the parts that decide how a run continues (the file's
// own hash also covers the run's elapsed seconds, which differ from run to run).
//
//	go run results/bench/issue30-train-20261206/identity/ckhash/main.go CHECKPOINT
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/eabs/eabs/train"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ckhash CHECKPOINT")
		os.Exit(2)
	}
	c, err := train.ReadCheckpoint(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ckhash:", err)
		os.Exit(1)
	}
	h := sha256.New()
	for _, p := range c.Weights.Params {
		binary.Write(h, binary.LittleEndian, p.Data)
		if m, ok := c.Adam.M[p.Name]; ok {
			binary.Write(h, binary.LittleEndian, m)
			binary.Write(h, binary.LittleEndian, c.Adam.V[p.Name])
		}
	}
	h.Write(c.RNG)
	fmt.Printf("%x\n", h.Sum(nil)[:8])
}
