package packcheck

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// descRecorder passes registrations on and remembers every metric family
// registered with its label names, including vectors that have no series yet
// and so do not show in a scrape.
type descRecorder struct {
	prometheus.Registerer
	families map[string]map[string]bool
	err      error
}

func (r *descRecorder) Register(c prometheus.Collector) error {
	if err := r.Registerer.Register(c); err != nil {
		return err
	}
	descs := make(chan *prometheus.Desc)
	go func() {
		c.Describe(descs)
		close(descs)
	}()
	for d := range descs {
		name, labels, err := readDesc(d)
		if err != nil {
			if r.err == nil {
				r.err = err
			}
			continue
		}
		r.families[name] = labels
	}
	return nil
}

func (r *descRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var (
	descFQName         = regexp.MustCompile(`fqName: ("(?:[^"\\]|\\.)*")`)
	descConstLabels    = regexp.MustCompile(`constLabels: \{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\}`)
	descConstLabelName = regexp.MustCompile(`(\w+)="(?:[^"\\]|\\.)*"`)
	descVariableLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

// readDesc reads a Desc's metric name and label names from its String form,
// the only place client_golang shows them.
func readDesc(d *prometheus.Desc) (string, map[string]bool, error) {
	s := d.String()
	m := descFQName.FindStringSubmatch(s)
	if m == nil {
		return "", nil, fmt.Errorf("cannot read a metric name from %s", s)
	}
	name, err := strconv.Unquote(m[1])
	if err != nil {
		return "", nil, fmt.Errorf("cannot read a metric name from %s: %w", s, err)
	}
	labels := map[string]bool{}
	if cm := descConstLabels.FindStringSubmatch(s); cm != nil {
		for _, l := range descConstLabelName.FindAllStringSubmatch(cm[1], -1) {
			labels[l[1]] = true
		}
	}
	vm := descVariableLabels.FindStringSubmatch(s)
	if vm == nil {
		return "", nil, fmt.Errorf("cannot read the labels of %s", s)
	}
	for _, l := range strings.Split(vm[1], ",") {
		// A constrained label shows as c(name).
		l = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(l), "c("), ")")
		if l != "" {
			labels[l] = true
		}
	}
	return name, labels, nil
}

// addFamily records the series of one metric family. Without its type (a
// registered Desc does not tell it) the series a histogram would expose are
// recorded too; the agent registers no summary.
func (f *Facts) addFamily(name string, labels map[string]bool, typ *dto.MetricType) {
	add := func(series string, extra ...string) {
		if f.Metrics[series] == nil {
			f.Metrics[series] = map[string]bool{}
		}
		for l := range labels {
			f.Metrics[series][l] = true
		}
		for _, l := range extra {
			f.Metrics[series][l] = true
		}
	}
	histogram := typ == nil || *typ == dto.MetricType_HISTOGRAM || *typ == dto.MetricType_GAUGE_HISTOGRAM
	summary := typ != nil && *typ == dto.MetricType_SUMMARY
	switch {
	case histogram:
		add(name)
		add(name+"_bucket", "le")
	case summary:
		add(name, "quantile")
	default:
		add(name)
		return
	}
	add(name + "_sum")
	add(name + "_count")
}
