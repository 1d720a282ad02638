package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// NewCmdConfig builds `diskless config`.
func NewCmdConfig(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration", Args: noArgs}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration and where each value came from",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.LoadConfig(nil, nil)
			if err != nil {
				return err
			}
			settings := cfg.Settings()
			t := &Table{Header: []string{"KEY", "VALUE", "SOURCE"}}
			for _, s := range settings {
				t.Add(s.Key, s.Value, s.Source)
			}
			return f.print(settings, t)
		},
	})
	return cmd
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
