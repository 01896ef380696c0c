// Command eabs trains, exports, runs, attacks and certifies E-ABS robust classifiers.
//
// The command is a thin shell over the library packages; see internal/cli for the
// subcommands and the README for an overview.
package main

import (
	"os"

	"github.com/eabs/eabs/internal/cli"
)

func main() { os.Exit(cli.Main()) }
