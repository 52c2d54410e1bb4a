package osquery

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// fuzzConfigs cover the stage's paths: defaults, no splitting, promoted
// columns with a tight guard, structured metadata, the columns line, a
// source key, and dropping what is not osquery output.
func fuzzConfigs() []*Config {
	def := DefaultConfig()

	noSplit := DefaultConfig()
	noSplit.Split = false
	noSplit.Extract = Selection{Names: []string{"first_run", "columns_type", "name"}}

	guarded := DefaultConfig()
	guarded.Columns = map[string][]string{"*": {"type", "pid", "x-y"}}
	guarded.MaxLabelValues = 2
	guarded.MaxLabelValueLength = 8
	guarded.LongLabelValues = LongValuesDrop
	guarded.Timestamp = "columns_time"
	guarded.DecorationPrefix = "d_"
	guarded.StructuredMetadata = map[string]string{"user": "columns_username", "host": "hostIdentifier", "fr": "first_run"}

	columns := DefaultConfig()
	columns.Line = LineColumns
	columns.Timestamp = TimestampUnixTime
	columns.Labels = []string{"name", "host", "action", "format", "severity", "epoch", "log_type"}
	columns.Decorations = Selection{Names: []string{"host_uuid"}}
	columns.GlogHost = GlogHostHostname

	source := DefaultConfig()
	source.Source = "raw"
	source.Malformed = MalformedDrop
	source.Extract = Selection{Mode: SelectNone}

	return []*Config{def, noSplit, guarded, columns, source}
}

// FuzzProcess feeds any text to the stage under every fuzz configuration.
// The seed corpus (testdata/fuzz/FuzzProcess) holds a line of every format
// and version quirk. Run with: go test -fuzz FuzzProcess ./stages/osquery/
func FuzzProcess(f *testing.F) {
	configs := fuzzConfigs()
	var built []stages.Stage
	for _, c := range configs {
		if err := c.validate(); err != nil {
			f.Fatal(err)
		}
		st, err := c.NewStage(stages.Options{})
		if err != nil {
			f.Fatal(err)
		}
		built = append(built, st)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for i, st := range built {
			cfg := configs[i]
			e := entryAt(line, readTime)
			e.Extracted["raw"] = line
			n := 0
			st.Process(&e, func(out *stages.Entry) {
				n++
				checkFuzzEntry(t, cfg, line, out)
			})
			// Every entry comes from a JSON object of the input (a row, a
			// record) or is the line itself: the count is bounded by the input.
			if limit := strings.Count(line, "{") + 1; n > limit {
				t.Fatalf("config %d: %d entries from a line with %d objects", i, n, limit-1)
			}
		}
	})
}

func checkFuzzEntry(t *testing.T, cfg *Config, in string, e *stages.Entry) {
	t.Helper()
	for name, value := range e.Labels {
		if name == "job" {
			continue
		}
		if !model.LegacyValidation.IsValidLabelName(string(name)) || strings.HasPrefix(string(name), "__") {
			t.Fatalf("invalid label name %q", name)
		}
		if value == "" || !utf8.ValidString(string(value)) || len(value) > cfg.MaxLabelValueLength {
			t.Fatalf("label %s has a bad value %q", name, value)
		}
	}
	for _, sm := range e.StructuredMetadata {
		if !model.LegacyValidation.IsValidLabelName(string(sm.Name)) {
			t.Fatalf("invalid structured metadata name %q", sm.Name)
		}
	}
	if e.Line != in && utf8.ValidString(in) && !json.Valid([]byte(e.Line)) {
		t.Fatalf("rewritten line is not JSON: %q", e.Line)
	}
}
