package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader: decoding, printing and
// validating must never panic. Seeds live in testdata/fuzz/FuzzLoad; the
// compat corpus is added when it is present.
func FuzzLoad(f *testing.F) {
	cases, _ := filepath.Glob(filepath.Join(compatDir, "*", "promtail.yaml"))
	for _, c := range cases {
		if data, err := os.ReadFile(c); err == nil {
			f.Add(data, false)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, expandEnv bool) {
		cfg := DefaultConfig()
		if err := Parse(cfg, data, expandEnv); err != nil {
			return
		}
		_ = cfg.String()
		cfg.Setup()
		_ = cfg.Validate()
		for i := range cfg.ScrapeConfigs {
			_ = cfg.ScrapeConfigs[i].Kind().String()
		}
	})
}
