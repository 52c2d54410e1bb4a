package config

import (
	"testing"
)

// FuzzConfigLoad feeds arbitrary bytes to Parse, the loader from bytes (seeds:
// testdata/fuzz/FuzzConfigLoad, among them the configs under configs/ and a few
// from the compatibility corpus). It must never panic, and a refusal is an
// error that says something. A configuration that loads and would start
// (Setup, Validate) is printed as /config prints it; the printed text must
// load again and print the same. Secrets print as <secret> both times.
//
// The printed text is loaded over an empty Config, not over the defaults: as
// in Promtail, a few keys are left out when false although their default is
// true (limits_config.readline_rate_drop), so /config is not a configuration
// file to start from; it is a faithful picture of the loaded configuration.
func FuzzConfigLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, expandEnv bool) {
		cfg := DefaultConfig()
		if err := Parse(cfg, data, expandEnv); err != nil {
			if err.Error() == "" {
				t.Fatalf("Parse(%q) failed with an empty error", data)
			}
			return
		}
		cfg.Setup()
		if err := cfg.Validate(); err != nil {
			if err.Error() == "" {
				t.Fatalf("Validate of %q failed with an empty error", data)
			}
			return
		}
		printed := cfg.String()
		again := &Config{}
		// The printed text is already expanded: expanding it again would
		// substitute the $ signs that $$ produced.
		if err := Parse(again, []byte(printed), false); err != nil {
			t.Fatalf("printed configuration does not load: %v\nprinted:\n%s\nfrom %q", err, printed, data)
		}
		again.Setup()
		if reprinted := again.String(); reprinted != printed {
			t.Fatalf("configuration changed when printed and loaded again:\nfirst:\n%s\nsecond:\n%s\nfrom %q", printed, reprinted, data)
		}
	})
}
