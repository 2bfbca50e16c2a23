package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/secondbrain-dev/secondbrain/scenarios"
	"github.com/secondbrain-dev/secondbrain/scenarios/catalog"
)

func newScenariosCmd() *cobra.Command {
	var scale float64
	list := func(cmd *cobra.Command, _ []string) error {
		scs, err := catalog.Load()
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("cannot load the scenario catalog: %w", err)}
		}
		return listScenarios(cmd.OutOrStdout(), scs, scale)
	}
	cmd := &cobra.Command{
		Use:   "scenarios",
		Short: "List the incident catalog",
		Args:  cobra.NoArgs,
		RunE:  list,
	}
	listCmd := &cobra.Command{
		Use:   "list",
		Short: "List the incident catalog: name, real-time length, scaled length, summary",
		Args:  cobra.NoArgs,
		RunE:  list,
	}
	for _, c := range []*cobra.Command{cmd, listCmd} {
		c.Flags().Float64Var(&scale, "time-scale", scenarios.DefaultTimeScale, "time scale for the scaled length")
	}
	cmd.AddCommand(listCmd)
	return cmd
}

func listScenarios(w io.Writer, scs []*scenarios.Scenario, scale float64) error {
	if scale <= 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--time-scale must be > 0, got %v", scale)}
	}
	hold := baselineHoldFor(defaultPingInterval)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tREAL\tAT %gx\tSUMMARY\n", scale)
	var total, totalScaled time.Duration
	for _, sc := range scs {
		d := sc.MinLength() + hold // the hold is real time at any scale
		sd := scaledLength(sc.MinLength(), scale) + hold
		total += d
		totalScaled += sd
		fmt.Fprintf(tw, "%s\t≥%v\t≥%v\t%s\n", sc.Name, d, sd, sc.Summary())
	}
	fmt.Fprintf(tw, "%s\t≥%v\t≥%v\t%s\n", "(total)", total, totalScaled,
		fmt.Sprintf("gaps, cancel delays and the call time the faults imply; replay adds a %v baseline hold per scenario", hold))
	return tw.Flush()
}

func scaledLength(d time.Duration, scale float64) time.Duration {
	return time.Duration(float64(d) / scale).Round(10 * time.Millisecond)
}

// loadScenarios resolves replay's arguments: catalog names, or paths of
// scenario files (anything ending in .yaml/.yml). No argument means all.
func loadScenarios(args []string) ([]*scenarios.Scenario, error) {
	all, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("cannot load the scenario catalog: %w", err)
	}
	if len(args) == 0 {
		return all, checkThresholds(all)
	}
	byName := map[string]*scenarios.Scenario{}
	for _, sc := range all {
		byName[sc.Name] = sc
	}
	var out []*scenarios.Scenario
	for _, a := range args {
		if strings.HasSuffix(a, ".yaml") || strings.HasSuffix(a, ".yml") {
			data, err := os.ReadFile(a)
			if err != nil {
				return nil, fmt.Errorf("cannot read scenario file: %w", err)
			}
			sc, err := scenarios.Parse(a, data)
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
			continue
		}
		sc, ok := byName[a]
		if !ok {
			names := make([]string, 0, len(all))
			for _, s := range all {
				names = append(names, s.Name)
			}
			return nil, fmt.Errorf("unknown scenario %q; the catalog has: %s", a, strings.Join(names, ", "))
		}
		out = append(out, sc)
	}
	return out, checkThresholds(out)
}

// checkThresholds decodes every scenario's thresholds block, so a bad one
// is bad usage before anything starts (the error names file, line, key).
func checkThresholds(scs []*scenarios.Scenario) error {
	for _, sc := range scs {
		if _, err := scenarios.ScenarioThresholds(sc); err != nil {
			return err
		}
	}
	return nil
}
