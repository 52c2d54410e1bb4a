package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStdinDryRunPrintsEntries checks -stdin -dry-run end to end: the first
// job's pipeline and static labels (less the reserved ones), Promtail's output
// layout, exit after the input ends, and no positions file.
func TestStdinDryRunPrintsEntries(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
server: {disable: true}
positions: {filename: %s/positions.yaml}
clients: [{url: "http://127.0.0.1:1/loki/api/v1/push"}]
scrape_configs:
- job_name: first
  static_configs: [{labels: {job: app, __path__: /nowhere/*.log}}]
  pipeline_stages:
  - regex: {expression: '^(?P<level>\w+) '}
  - labels: {level: }
- job_name: ignored
  pipeline_stages: [{static_labels: {ignored: "yes"}}]
`, dir))
	out, code := runIn(t, dir, []string{"TZ=UTC"}, 20*time.Second, "info started\n\nwarn disk\r\n", "-stdin", "-dry-run", "-config.file="+cfg)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	entry := regexp.MustCompile(`(?m)^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d{4})\t(\{[^\t]*\})\t(.*)$`)
	var got []string
	for _, m := range entry.FindAllStringSubmatch(out, -1) {
		got = append(got, m[3]+" "+m[4])
	}
	want := []string{`{job="app", level="info"} info started`, `{job="app", level="warn"} warn disk`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("printed entries\n%s\nwant\n%s\nfull output:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
	if _, err := os.Stat(filepath.Join(dir, "positions.yaml")); !os.IsNotExist(err) {
		t.Errorf("dry-run wrote the positions file (stat: %v)", err)
	}
}
