package stages

import (
	"testing"

	"github.com/prometheus/common/model"
)

// benchStage measures one stage on one line, reusing the entry's maps the way
// a pipeline run reuses nothing else: the cost shown is the stage's own.
func benchStage(b *testing.B, pipelineYAML, line string) {
	p := mkPipeline(b, pipelineYAML)
	st := p.stages[0]
	extracted := make(map[string]any, 16)
	labels := model.LabelSet{}
	e := &Entry{}
	next := func(*Entry) {}
	b.ReportAllocs()
	for b.Loop() {
		clear(extracted)
		clear(labels)
		*e = Entry{Labels: labels, Extracted: extracted, Timestamp: mkTime, Line: line}
		st.Process(e, next)
	}
}

const benchJSONLine = `{"level":"info","ts":"2024-05-10T14:22:01.123Z","msg":"request served","status":200,"duration_ms":12.5,"ctx":{"user":"u-42","path":"/api/v1/items"}}`

func BenchmarkJSONStage(b *testing.B) {
	benchStage(b, `
- json:
    expressions:
      level:
      msg:
      status:
      user: ctx.user`, benchJSONLine)
}

// benchOsqueryLine is a real osquery result line (about 580 bytes).
const benchOsqueryLine = `{"name":"pack_incident-response_logged_in_users","hostIdentifier":"827B4BF5-9F08-10A7-337D-25BC97BB5D19","calendarTime":"Sun Nov  1 00:00:00 2026 UTC","unixTime":1793491200,"epoch":0,"counter":2244,"numerics":false,"decorations":{"host_uuid":"827B4BF5-9F08-10A7-337D-25BC97BB5D19","hostname":"vpn-prod-50","username":"mlopez"},"columns":{"cmdline":"sudo -i -u postgres psql -d appdb -c \"select count(*) from pg_stat_activity\"","cwd":"/home/mlopez","host":"10.8.0.40","name":"sudo","pid":"177851","root":"/","time":"1793491178","tty":"pts/0","type":"user","user":"mlopez"},"action":"added"}`

func BenchmarkJSONStageOsquery(b *testing.B) {
	benchStage(b, `
- json:
    expressions:
      name:
      host: hostIdentifier
      calendarTime:
      action:
      host_uuid: decorations.host_uuid`, benchOsqueryLine)
}

func BenchmarkRegexStage(b *testing.B) {
	benchStage(b, `
- regex:
    expression: '^(?P<time>\S+) (?P<level>\w+) (?P<caller>[\w./]+:\d+) (?P<msg>.*)$'`,
		"2024-01-15T09:30:01Z error db/pool.go:117 dial tcp 10.0.0.5:5432: connect: connection refused")
}

func BenchmarkLogfmtStage(b *testing.B) {
	benchStage(b, `
- logfmt:
    mapping:
      level:
      msg:
      duration:`,
		`ts=2024-02-01T10:00:00Z level=info msg="request served" duration=12ms path=/api status=200`)
}

func BenchmarkReplaceStage(b *testing.B) {
	benchStage(b, `
- replace:
    expression: '(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})'
    replace: '*IP*'`,
		"client 192.168.10.21 connected to 10.0.0.1 via 172.16.5.4")
}

func BenchmarkTemplateStage(b *testing.B) {
	benchStage(b, `
- template:
    source: level
    template: '{{ .Entry | ToUpper | trunc 8 }}'`,
		"warn the secret is out")
}

func BenchmarkCRIStage(b *testing.B) {
	benchStage(b, "- cri: {}", "2024-05-10T14:22:01.123456789Z stdout F Server listening on 0.0.0.0:9000")
}

func BenchmarkDockerStage(b *testing.B) {
	benchStage(b, "- docker: {}", `{"log":"listening on :8080\n","stream":"stdout","time":"2024-03-05T10:15:30.123456789Z"}`)
}

func BenchmarkDecolorizeStagePlain(b *testing.B) {
	benchStage(b, "- decolorize: {}", "plain line without escapes, the common case")
}

func BenchmarkMultilineStage(b *testing.B) {
	benchStage(b, "- multiline: {firstline: '^\\d', max_lines: 16}", "  continuation line of a stack trace")
}
