package syslog

import (
	"errors"
	"strings"
	"time"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Promtail's internal labels. They are visible to relabel_configs and
// dropped afterwards, with every other label that starts with "__".
const (
	labelConnectionIP       = "__syslog_connection_ip_address"
	labelConnectionHostname = "__syslog_connection_hostname"
	labelSeverity           = "__syslog_message_severity"
	labelFacility           = "__syslog_message_facility"
	labelHostname           = "__syslog_message_hostname"
	labelAppName            = "__syslog_message_app_name"
	labelProcID             = "__syslog_message_proc_id"
	labelMsgID              = "__syslog_message_msg_id"
	labelSDPrefix           = "__syslog_message_sd_"
)

// errNoMessage stands for a parser that returned neither a message nor an
// error, which it does for some malformed input.
var errNoMessage = errors.New("syslog parser returned no message")

// session turns the messages of one connection (or of the UDP listener)
// into entries. Parser and label builder are reused from message to message,
// so a session belongs to one goroutine.
type session struct {
	t       *Target
	machine gosyslog.Machine
	lb      *labels.Builder
}

func (t *Target) newSession() *session {
	var m gosyslog.Machine
	if t.rfc3164 {
		// The framer decides where a message ends, so a newline inside one is
		// content. RFC 3339 timestamps in place of the RFC 3164 stamp are
		// common (rsyslog, systemd) and carry a year; Promtail rejects them.
		m = rfc3164.NewMachine(rfc3164.WithEmbeddedNewlines(), rfc3164.WithRFC3339())
	} else {
		m = rfc5424.NewMachine()
	}
	return &session{t: t, machine: m, lb: labels.NewBuilder(labels.EmptyLabels())}
}

// handle parses one message and hands the entry on. base holds the static
// and connection labels.
func (s *session) handle(base labels.Labels, frame []byte) {
	t := s.t
	msg, err := s.machine.Parse(frame)
	if err == nil && msg == nil {
		err = errNoMessage
	}
	if err != nil {
		t.parsingError(err, base)
		return
	}
	var (
		b    *gosyslog.Base
		sd   *map[string]map[string]string
		full *rfc5424.SyslogMessage
	)
	switch m := msg.(type) {
	case *rfc5424.SyslogMessage:
		b, sd, full = &m.Base, m.StructuredData, m
	case *rfc3164.SyslogMessage:
		b = &m.Base
	default:
		t.parsingError(errNoMessage, base)
		return
	}
	if b.Message == nil {
		t.metrics.emptyMessages.Inc()
		return
	}

	lb := s.lb
	lb.Reset(base)
	setLabel(lb, labelSeverity, b.SeverityLevel())
	setLabel(lb, labelFacility, b.FacilityLevel())
	setLabel(lb, labelHostname, b.Hostname)
	setLabel(lb, labelAppName, b.Appname)
	setLabel(lb, labelProcID, b.ProcID)
	setLabel(lb, labelMsgID, b.MsgID)
	if t.cfg.LabelStructuredData && sd != nil {
		for id, params := range *sd {
			prefix := labelSDPrefix + strings.ReplaceAll(id, "@", "_") + "_"
			for name, value := range params {
				lb.Set(prefix+name, value)
			}
		}
	}
	if !relabel.ProcessBuilder(lb, t.relabel...) {
		return
	}
	ls := make(model.LabelSet, len(t.cfg.Labels)+2)
	lb.Range(func(l labels.Label) {
		if !strings.HasPrefix(l.Name, "__") {
			ls[model.LabelName(l.Name)] = model.LabelValue(l.Value)
		}
	})

	now := time.Now()
	ts := now
	if t.cfg.UseIncomingTimestamp && b.Timestamp != nil {
		ts = *b.Timestamp
		if ts.Year() == 0 {
			ts = withNearestYear(ts, now)
		}
	}
	line := *b.Message
	if full != nil && t.cfg.UseRFC5424Message {
		if whole, err := full.String(); err == nil {
			line = whole
		} else {
			t.logger.Debug("cannot print the whole RFC 5424 message, sending its MSG part", "err", err)
		}
	}
	t.handler.Handle(stages.Entry{Labels: ls, Timestamp: ts, Line: line})
	t.metrics.entries.Inc()
}

// setLabel sets a label the parser found; a missing field (or "-" in RFC
// 5424) leaves the label out, and so does an empty value, as in Promtail.
func setLabel(lb *labels.Builder, name string, value *string) {
	if value != nil {
		lb.Set(name, *value)
	}
}

// withNearestYear gives an RFC 3164 stamp ("Oct 11 22:14:15"), which has no
// year, the year that puts it closest to now. Promtail leaves such
// timestamps in year 0, which Loki rejects; taking the nearest year keeps a
// December message received in January in the year it was written.
func withNearestYear(ts, now time.Time) time.Time {
	best := ts
	var bestDist time.Duration
	for y := now.Year() - 1; y <= now.Year()+1; y++ {
		c := time.Date(y, ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), ts.Nanosecond(), ts.Location())
		d := c.Sub(now).Abs()
		if best.Year() == 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
