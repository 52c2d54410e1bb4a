package syslog

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api/apitest"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// fakeHost is what the tests' resolver answers for every address, so label
// sets do not depend on the machine's /etc/hosts.
const fakeHost = "sender.example"

func fakeLookup(context.Context, string) ([]string, error) { return []string{fakeHost}, nil }

// exposeInternal maps every __syslog_* label to a visible syslog_* label, so
// a test sees the internal labels Promtail sets before they are dropped.
var exposeInternal = []*relabel.Config{{
	Action:      relabel.LabelMap,
	Regex:       relabel.MustNewRegexp("__syslog_(.+)"),
	Replacement: "syslog_$1",
}}

// collector records the entries a target hands on.
type collector = apitest.Collector

// startTarget starts a target on a free loopback port and stops it when the
// test ends.
func startTarget(t testing.TB, cfg config.SyslogConfig, rc []*relabel.Config) (*Target, *collector, *Metrics) {
	t.Helper()
	if cfg.ListenAddress == "" {
		cfg.ListenAddress = "127.0.0.1:0"
	}
	m := NewMetrics(nil)
	c := &collector{}
	tg, err := newTarget(promslog.NewNopLogger(), m, "syslog", &cfg, rc, c, fakeLookup)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Stop)
	return tg, c, m
}

// counts are the target's three counters.
type counts struct{ entries, errors, empty float64 }

func readCounts(m *Metrics) counts {
	return counts{
		entries: testutil.ToFloat64(m.entries),
		errors:  testutil.ToFloat64(m.parsingErrors),
		empty:   testutil.ToFloat64(m.emptyMessages),
	}
}

// waitCounts waits until the counters reach want: errors are counted on the
// target's goroutines, after the bytes were written.
func waitCounts(t *testing.T, m *Metrics, want counts) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for readCounts(m) != want {
		if time.Now().After(deadline) {
			t.Fatalf("counters %+v, want %+v", readCounts(m), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// send writes each chunk to a fresh TCP connection as its own write, then
// closes the connection.
func send(t *testing.T, addr net.Addr, chunks ...string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range chunks {
		if _, err := conn.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
}

func checkEntries(t *testing.T, got []stages.Entry, want []wantEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line {
			t.Errorf("entry %d: line %q, want %q", i, g.Line, w.line)
		}
		if !g.Labels.Equal(w.labels) {
			t.Errorf("entry %d: labels %v, want %v", i, g.Labels, w.labels)
		}
		if g.Ack != nil {
			t.Errorf("entry %d carries an Ack", i)
		}
		if !w.ts.IsZero() && !g.Timestamp.Equal(w.ts) {
			t.Errorf("entry %d: timestamp %v, want %v", i, g.Timestamp, w.ts)
		}
		if w.ts.IsZero() && time.Since(g.Timestamp).Abs() > time.Minute {
			t.Errorf("entry %d: timestamp %v is not the time it was read", i, g.Timestamp)
		}
	}
}

type wantEntry struct {
	line   string
	labels model.LabelSet
	// ts zero means the time of reading.
	ts time.Time
}
