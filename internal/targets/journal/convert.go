//go:build linux && cgo && promtail_journal_enabled

package journal

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

const (
	fieldLabelPrefix = "__journal_"
	messageField     = "MESSAGE"
	priorityField    = "PRIORITY"
	priorityKeyword  = "__journal_priority_keyword"
	// maxCachedNames bounds the field-to-label-name cache: any local process
	// may log fields under names of its own choosing.
	maxCachedNames = 1024
)

// priorityKeywords are syslog's level names, as Promtail spells them.
var priorityKeywords = [...]string{"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"}

// converter turns journal entries into pipeline entries. It keeps scratch
// space between entries, so it belongs to the one goroutine that reads.
type converter struct {
	json    bool
	static  model.LabelSet
	relabel []*relabel.Config
	m       *Metrics

	names   map[string]string
	scratch labels.ScratchBuilder
	lb      *labels.Builder
}

func newConverter(m *Metrics, jsonLines bool, static model.LabelSet, rcs []*relabel.Config) *converter {
	return &converter{
		json:    jsonLines,
		static:  static,
		relabel: rcs,
		m:       m,
		names:   make(map[string]string),
		scratch: labels.NewScratchBuilder(32),
		lb:      labels.NewBuilder(labels.EmptyLabels()),
	}
}

// convert builds the entry for one journal entry; ok is false when the entry
// is skipped (no MESSAGE, dropped by relabeling, no labels left).
func (c *converter) convert(fields map[string]string, realtimeUsec uint64) (e stages.Entry, ok bool) {
	var line string
	if c.json {
		line = encodeJSON(fields)
	} else {
		msg, found := fields[messageField]
		if !found {
			c.m.errors.WithLabelValues(reasonNoMessage).Inc()
			return stages.Entry{}, false
		}
		line = msg
	}

	c.scratch.Reset()
	for field, value := range fields {
		name := c.labelName(field)
		if _, overridden := c.static[model.LabelName(name)]; !overridden {
			c.scratch.Add(name, value)
		}
		if field == priorityField {
			if _, overridden := c.static[priorityKeyword]; !overridden {
				c.scratch.Add(priorityKeyword, priorityName(value))
			}
		}
	}
	for name, value := range c.static {
		c.scratch.Add(string(name), string(value))
	}
	c.scratch.Sort()
	base := c.scratch.Labels()
	if _, dup := base.HasDuplicateLabelNames(); dup {
		base = withoutDuplicates(base)
	}
	c.lb.Reset(base)
	if !relabel.ProcessBuilder(c.lb, c.relabel...) {
		return stages.Entry{}, false
	}

	var ls model.LabelSet
	c.lb.Range(func(l labels.Label) {
		if strings.HasPrefix(l.Name, "__") {
			return
		}
		if ls == nil {
			ls = make(model.LabelSet, len(c.static)+2)
		}
		ls[model.LabelName(l.Name)] = model.LabelValue(l.Value)
	})
	if len(ls) == 0 {
		c.m.errors.WithLabelValues(reasonEmptyLabels).Inc()
		return stages.Entry{}, false
	}
	c.m.lines.Inc()
	return stages.Entry{
		Labels:    ls,
		Timestamp: time.UnixMicro(int64(realtimeUsec)),
		Line:      line,
	}, true
}

// labelName is __journal_ and the field name in lower case. Field names repeat
// from entry to entry, so the names are kept rather than built per entry.
func (c *converter) labelName(field string) string {
	if name, ok := c.names[field]; ok {
		return name
	}
	name := fieldLabelPrefix + strings.ToLower(field)
	if len(c.names) < maxCachedNames {
		c.names[field] = name
	}
	return name
}

// withoutDuplicates keeps one value per name. Fields differing only in case
// (which journald refuses but a journal file may hold) share a label name;
// Promtail keeps one of them too.
func withoutDuplicates(ls labels.Labels) labels.Labels {
	m := make(map[string]string, ls.Len())
	ls.Range(func(l labels.Label) { m[l.Name] = l.Value })
	return labels.FromMap(m)
}

func priorityName(value string) string {
	if len(value) == 1 && value[0] >= '0' && int(value[0]-'0') < len(priorityKeywords) {
		return priorityKeywords[value[0]-'0']
	}
	return value
}

// encodeJSON writes the fields as one JSON object, as Promtail's json: true
// lines are: keys sorted, HTML characters escaped, invalid UTF-8 replaced,
// which is what encoding/json does with a map[string]string.
func encodeJSON(fields map[string]string) string {
	b, err := json.Marshal(fields)
	if err != nil {
		// A map of strings always marshals.
		panic(fmt.Sprintf("journal: encoding fields as JSON: %v", err))
	}
	return string(b)
}
