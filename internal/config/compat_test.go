package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// compatDir is shared/compat/configs, which sits beside the repository (CI
// lays shared/ next to its clone).
const compatDir = "../../../shared/compat/configs"

type compatResult struct {
	Env               map[string]string `json:"env"`
	Args              []string          `json:"args"`
	CheckSyntaxExit   int               `json:"check_syntax_exit"`
	CheckSyntaxOutput string            `json:"check_syntax_output"`
	DryRunError       string            `json:"dry_run_error"`
	DryRunExit        *int              `json:"dry_run_exit"`
}

// promtailStartError pulls the error out of Promtail's
// `msg="error creating promtail" error="..."` log line.
var promtailStartError = regexp.MustCompile(`msg="error creating promtail" error="((?:[^"\\]|\\.)*)"`)

// startErrors are the dry-run failures that Validate is responsible for;
// the others (pipelines, positions file) belong to the agent.
var startErrors = []string{
	"at least one client config must be provided",
	"client needs target URL",
	"no valid target scrape config defined for",
}

// TestCompatConfigs replays the recorded Promtail 3.6 config cases: the
// -check-syntax verdict and message must be Promtail's, and where Promtail's
// dry run failed on a start-time check, Validate must fail the same way.
func TestCompatConfigs(t *testing.T) {
	entries, err := os.ReadDir(compatDir)
	if err != nil {
		t.Skipf("compat corpus not available: %v", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir, err := filepath.Abs(filepath.Join(compatDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(e.Name(), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, "result.json"))
			if err != nil {
				t.Fatal(err)
			}
			var want compatResult
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			for k, v := range want.Env {
				t.Setenv(k, v)
			}
			t.Chdir(dir)

			args := append([]string{"-config.file=promtail.yaml"}, want.Args...)
			args = append(args, "-check-syntax")
			opts, flags, err := ParseArgs(newFlagSet(), args)
			if err != nil {
				t.Fatalf("ParseArgs: %v", err)
			}
			cfg, _, _, loadErr := flags.Load()

			exit, output := 0, "Valid config file! No syntax issues found"
			if loadErr != nil {
				exit, output = 1, "Unable to parse config: "+WithExpandEnvHint(loadErr, opts.ExpandEnv).Error()
			}
			if exit != want.CheckSyntaxExit {
				t.Fatalf("check-syntax exit %d (%s), Promtail %d (%s)", exit, output, want.CheckSyntaxExit, want.CheckSyntaxOutput)
			}
			if output != want.CheckSyntaxOutput {
				t.Errorf("check-syntax output\n got: %s\nwant: %s", output, want.CheckSyntaxOutput)
			}
			if loadErr != nil {
				return
			}

			wantStart := ""
			if m := promtailStartError.FindStringSubmatch(want.DryRunError); m != nil {
				wantStart = strings.ReplaceAll(m[1], `\"`, `"`)
			}
			ours := false
			for _, prefix := range startErrors {
				ours = ours || strings.HasPrefix(wantStart, prefix)
			}
			if !kubernetesSDLinked && usesKubernetesSD(cfg) {
				t.Skip("this build refuses kubernetes_sd_configs at start, by design")
			}
			err = cfg.Validate()
			switch {
			case ours && (err == nil || err.Error() != wantStart):
				t.Errorf("Validate = %v, Promtail: %s", err, wantStart)
			case !ours && err != nil:
				t.Errorf("Validate = %v, Promtail started (or failed elsewhere: %q)", err, want.DryRunError)
			}
		})
	}
}

func usesKubernetesSD(cfg *Config) bool {
	for _, sc := range cfg.ScrapeConfigs {
		for _, sd := range sc.ServiceDiscoveryConfigs {
			if sd.Name() == "kubernetes" {
				return true
			}
		}
	}
	return false
}

func TestPromtailStartErrorPattern(t *testing.T) {
	m := promtailStartError.FindStringSubmatch(`level=error msg="error creating promtail" error="no valid target scrape config defined for \"x\""`)
	if m == nil || strings.ReplaceAll(m[1], `\"`, `"`) != `no valid target scrape config defined for "x"` {
		t.Errorf("start error not extracted: %q", m)
	}
}
