package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/zoo"
)

func init() { register(newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the commit eabs was built from and the Go release",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "eabs %s\n", version())
			return nil
		},
	}
}

// addCompletions teaches shell completion the values eabs knows: zoo models for a
// MODEL argument, attack names, runtimes, datasets and splits.
func addCompletions(root *cobra.Command) {
	values := map[string]func() []string{
		"runtime": func() []string { return []string{"ort", "ref"} },
		"dataset": data.Names,
		"split":   func() []string { return []string{"test", "train", "val"} },
		"attacks": attack.Names,
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, f := range values {
			if c.Flags().Lookup(name) == nil {
				continue
			}
			c.RegisterFlagCompletionFunc(name, func(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
				if name != "attacks" {
					return f(), cobra.ShellCompDirectiveNoFileComp
				}
				// A comma-separated list: complete its last element.
				done := typed[:strings.LastIndex(typed, ",")+1]
				var out []string
				for _, a := range f() {
					out = append(out, done+a)
				}
				return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
			})
		}
		if strings.Contains(c.Use, "MODEL") {
			c.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveDefault
				}
				var out []string
				for _, n := range zoo.Names() {
					out = append(out, zoo.Prefix+n)
				}
				return out, cobra.ShellCompDirectiveDefault // model files too
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}
