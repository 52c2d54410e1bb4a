package syslog

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

const fuzzLimit = 256

// FuzzFraming runs arbitrary bytes through the framer, as a TCP stream cut
// into two reads at split and as one datagram, and every message through
// the parser and the labels. It checks that nothing panics, that the framer
// ends and never hands out more than max_message_length bytes, and that
// every message becomes exactly one of: an entry, a parsing error, an empty
// message. Seeds are in testdata/fuzz/FuzzFraming.
func FuzzFraming(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, rfc3164 bool, split uint16) {
		var entries int
		tg := fuzzTarget(t, rfc3164, func(e stages.Entry) {
			entries++
			for name := range e.Labels {
				if strings.HasPrefix(string(name), "__") {
					t.Fatalf("internal label %q left on the entry", name)
				}
			}
		})
		s := tg.newSession()
		base := tg.connectionLabels(netip.MustParseAddr("127.0.0.1"))

		cut := min(int(split), len(data))
		stream := newFramer(bufio.NewReaderSize(&chunkReader{chunks: []string{string(data[:cut]), string(data[cut:])}}, 16), fuzzLimit, false)
		datagram := newFramer(bufio.NewReaderSize(strings.NewReader(""), 16), fuzzLimit, true)
		datagram.reset(strings.NewReader(string(data)))

		for _, fr := range []*framer{stream, datagram} {
			handled := 0
			before := readCounts(tg.metrics)
			entries = 0
			for i := 0; ; i++ {
				if i > len(data)+2 {
					t.Fatal("framer does not end")
				}
				msg, err := fr.next()
				if err == nil {
					if len(msg) > fuzzLimit {
						t.Fatalf("message of %d bytes, limit %d", len(msg), fuzzLimit)
					}
					s.handle(base, msg)
					handled++
					continue
				}
				if errors.Is(err, errOversized) {
					continue
				}
				if !errors.Is(err, errFraming) && !errors.Is(err, io.EOF) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			after := readCounts(tg.metrics)
			outcomes := int(after.errors-before.errors) + int(after.empty-before.empty) + entries
			if outcomes != handled || int(after.entries-before.entries) != entries {
				t.Fatalf("%d messages parsed, but %d entries, %v errors, %v empty", handled, entries,
					after.errors-before.errors, after.empty-before.empty)
			}
		}
	})
}

// fuzzTarget is a target with every option on and no listener.
func fuzzTarget(t *testing.T, rfc3164 bool, handle func(stages.Entry)) *Target {
	cfg := config.SyslogConfig{
		ListenAddress: "127.0.0.1:0", Labels: model.LabelSet{"job": "fuzz"}, LabelStructuredData: true,
		UseIncomingTimestamp: true, UseRFC5424Message: true, MaxMessageLength: fuzzLimit,
	}
	if rfc3164 {
		cfg.SyslogFormat = config.SyslogFormatRFC3164
	}
	c, err := withDefaults(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Target{
		logger: promslog.NewNopLogger(), metrics: NewMetrics(nil), cfg: c, rfc3164: rfc3164,
		relabel: prepareRelabel(exposeInternal), handler: api.EntryHandlerFunc(handle), lookupAddr: fakeLookup, ctx: ctx,
	}
}
