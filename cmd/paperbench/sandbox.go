package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

var sandboxCmd = &cobra.Command{
	Use:   "sandbox",
	Short: "Manage the sandboxes latent runs untrusted code in",
}

var sandboxCleanupCmd = &cobra.Command{
	Use:   "cleanup [--label key=value]... [--sandbox local|docker|kubernetes]",
	Short: "Remove every sandbox a crashed run left behind, chosen by label",
	Example: `  paperbench sandbox cleanup --label run=2026-12-03-rice
  paperbench sandbox cleanup --sandbox docker --json
  paperbench sandbox cleanup --sandbox kubernetes --namespace pb --label run=2026-12-03-rice`,
	Long: `Cleanup removes every sandbox of the backend whose labels include all the given ones
(every latent sandbox of the backend when none is given), with whatever still runs in it: for
the local backend its folder and control groups, for docker its container, for kubernetes its
pod and NetworkPolicy. It prints how many it removed.`,
	Args: cobra.NoArgs,
	RunE: runSandboxCleanup,
}

func init() {
	sandboxCleanupCmd.Flags().StringArray("label", nil, "key=value a sandbox must carry to be removed (repeatable)")
	sandboxCleanupCmd.Flags().Bool("json", false, `print {"backend": NAME, "removed": N}`)
	backendFlags(sandboxCleanupCmd)
	sandboxCmd.AddCommand(sandboxCleanupCmd)
	rootCmd.AddCommand(sandboxCmd)
}

func runSandboxCleanup(cmd *cobra.Command, _ []string) error {
	kv, _ := cmd.Flags().GetStringArray("label")
	labels, err := parseLabels(kv)
	if err != nil {
		return fmt.Errorf("sandbox cleanup: --label: %w", err)
	}
	p, err := newProvider(cmd)
	if err != nil {
		return fmt.Errorf("sandbox cleanup: %w", err)
	}
	n, err := p.Cleanup(cmd.Context(), labels)
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		if jerr := writeJSON(cmd.OutOrStdout(), struct {
			Backend string `json:"backend"`
			Removed int    `json:"removed"`
		}{p.Name(), n}); jerr != nil {
			return jerr
		}
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "removed %d %s sandboxes\n", n, p.Name())
	}
	if err != nil {
		return fmt.Errorf("sandbox cleanup: %w", err)
	}
	return nil
}
