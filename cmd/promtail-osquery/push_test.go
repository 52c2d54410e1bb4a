package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/lokitest"
)

// TestStagesReachLoki checks, through the binary and a real push, that
// structured metadata travels with its line and that a tenant set by a stage
// becomes X-Scope-OrgID instead of a label.
func TestStagesReachLoki(t *testing.T) {
	loki := lokitest.New(nil)
	defer loki.Close()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
server: {disable: true}
positions: {filename: %s/positions.yaml}
clients: [{url: %s, batchwait: 50ms, tenant_id: fallback}]
scrape_configs:
- job_name: push
  static_configs: [{labels: {job: push}}]
  pipeline_stages:
  - regex: {expression: '^(?P<team>\w+) trace=(?P<trace>\w+)'}
  - tenant: {source: team}
  - structured_metadata: {trace: }
`, dir, loki.PushURL()))
	out, code := runIn(t, dir, []string{"TZ=UTC"}, 30*time.Second, "red trace=abc one\nblue trace=def two\nnoise\n", "-stdin", "-config.file="+cfg)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	want := map[string]struct{ tenant, trace string }{
		"red trace=abc one":  {"red", "abc"},
		"blue trace=def two": {"blue", "def"},
		"noise":              {"fallback", ""},
	}
	got := loki.Entries()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for _, e := range got {
		w, ok := want[e.Line]
		if !ok {
			t.Errorf("unexpected line %q", e.Line)
			continue
		}
		if e.Tenant != w.tenant {
			t.Errorf("%q: tenant %q, want %q", e.Line, e.Tenant, w.tenant)
		}
		if e.StructuredMetadata["trace"] != w.trace {
			t.Errorf("%q: structured metadata %v, want trace=%q", e.Line, e.StructuredMetadata, w.trace)
		}
		if _, leaked := e.Labels["__tenant_id__"]; leaked || e.Labels["job"] != "push" {
			t.Errorf("%q: labels %v", e.Line, e.Labels)
		}
		if _, isLabel := e.Labels["trace"]; isLabel {
			t.Errorf("%q: trace became a label", e.Line)
		}
	}
}
