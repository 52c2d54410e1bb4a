package file

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/discovery"
)

// Metrics are the file target's metrics. Names, types and labels are Promtail's,
// including the two gauges whose names end in _total.
type Metrics struct {
	readBytes     *prometheus.GaugeVec
	fileBytes     *prometheus.GaugeVec
	readLines     *prometheus.CounterVec
	filesActive   prometheus.Gauge
	targetsActive prometheus.Gauge
	targetsFailed *prometheus.CounterVec

	// sd holds the service discovery mechanisms' metrics. Prometheus allows them
	// to be registered once per registry, so they live here rather than in the
	// Manager, which a config reload rebuilds.
	sd    *discovery.SDMetrics
	sdErr error
}

// Reasons counted by promtail_targets_failed_total.
const (
	reasonDropped   = "dropped"
	reasonWrongHost = "wrong_host"
	reasonNoPath    = "no_path"
	reasonExists    = "exists"
	reasonError     = "error"
)

// NewMetrics creates the file target metrics and registers them on reg, once
// per process. A nil reg registers nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		readBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "promtail_read_bytes_total",
			Help: "Offset up to which the file has been read, in bytes.",
		}, []string{"path"}),
		fileBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "promtail_file_bytes_total",
			Help: "Size of the file being read, in bytes.",
		}, []string{"path"}),
		readLines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_read_lines_total",
			Help: "Lines read from the file.",
		}, []string{"path"}),
		filesActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "promtail_files_active_total",
			Help: "Files currently open for reading.",
		}),
		targetsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "promtail_targets_active_total",
			Help: "File targets currently active.",
		}),
		targetsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_targets_failed_total",
			Help: "Discovered targets that were not started, by reason.",
		}, []string{"reason"}),
	}
	sdReg := reg
	if reg != nil {
		reg.MustRegister(m.readBytes, m.fileBytes, m.readLines, m.filesActive, m.targetsActive, m.targetsFailed)
	} else {
		sdReg = prometheus.NewRegistry()
	}
	sd, err := discovery.CreateAndRegisterSDMetrics(sdReg)
	if err != nil {
		// Another component already registered the SD metrics on reg: discovery
		// still works with a private set, which is only not exported.
		sd, err = discovery.CreateAndRegisterSDMetrics(prometheus.NewRegistry())
	}
	m.sd, m.sdErr = sd, err
	return m
}

// pathMetrics are the per-path series of one file. They are counted out to
// readers and deleted when no reader uses the path any more, so a rotated or
// deleted file leaves no stale series behind (Promtail's #13042).
type pathMetrics struct {
	path      string
	readBytes prometheus.Gauge
	fileBytes prometheus.Gauge
	readLines prometheus.Counter
	refs      int // guarded by Manager.pmMu
}

func (m *Metrics) newPathMetrics(path string) *pathMetrics {
	return &pathMetrics{
		path:      path,
		readBytes: m.readBytes.WithLabelValues(path),
		fileBytes: m.fileBytes.WithLabelValues(path),
		readLines: m.readLines.WithLabelValues(path),
	}
}

func (m *Metrics) deletePath(path string) {
	m.readBytes.DeleteLabelValues(path)
	m.fileBytes.DeleteLabelValues(path)
	m.readLines.DeleteLabelValues(path)
}
