package agent

import (
	"fmt"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/client"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/server"
	"github.com/promtail-osquery/promtail-osquery/internal/spool"
	"github.com/promtail-osquery/promtail-osquery/internal/targets/file"
)

// serverConfig gives the HTTP server the part of server: it serves with.
func serverConfig(c config.MainServerConfig) server.Config {
	return server.Config{
		HTTPListenNetwork:           c.HTTPListenNetwork,
		HTTPListenAddress:           c.HTTPListenAddress,
		HTTPListenPort:              c.HTTPListenPort,
		HTTPServerReadTimeout:       c.HTTPServerReadTimeout,
		HTTPServerReadHeaderTimeout: c.HTTPServerReadHeaderTimeout,
		HTTPServerWriteTimeout:      c.HTTPServerWriteTimeout,
		HTTPServerIdleTimeout:       c.HTTPServerIdleTimeout,
		HTTPListenConnLimit:         c.HTTPConnLimit,
		GracefulShutdownTimeout:     c.GracefulShutdownTimeout,
		HTTPPathPrefix:              c.HTTPPathPrefix,
		RegisterInstrumentation:     c.RegisterInstrumentation,
		ExternalURL:                 c.ExternalURL,
		HealthCheckTarget:           c.HealthCheckTarget,
		Disable:                     c.Disable,
		ProfilingEnabled:            c.ProfilingEnabled,
		EnableRuntimeReload:         c.EnableRuntimeReload,
		ProxyProtocolEnabled:        c.ProxyProtocolEnabled,
		HTTPTLSConfig:               c.HTTPTLSConfig,
		TLSMinVersion:               c.TLSMinVersion,
		TLSCipherSuites:             c.TLSCipherSuites,
	}
}

// targetSource shows the targets on /ready, /targets and
// /service-discovery. A listening target (syslog, push, osquery_tls) is
// ready as soon as it runs, as Promtail's push targets are.
type targetSource struct {
	files     *file.Manager
	listeners []listener
}

func (t targetSource) Ready() bool {
	return len(t.listeners) > 0 || (t.files != nil && t.files.Ready())
}

func (t targetSource) ActiveTargets() map[string][]server.TargetStatus {
	out := map[string][]server.TargetStatus{}
	for _, l := range t.listeners {
		out[l.job] = append(out[l.job], server.TargetStatus{
			Labels:  model.LabelSet{"job": model.LabelValue(l.job)},
			Details: map[string]string{"kind": l.kind.String()},
			Ready:   true,
		})
	}
	if t.files == nil {
		return out
	}
	for _, ts := range t.files.ActiveTargets() {
		details := make(map[string]string, len(ts.Files))
		for _, f := range ts.Files {
			details[f.Path] = fmt.Sprintf("%d/%d", f.Position, f.Size)
		}
		out[ts.Job] = append(out[ts.Job], server.TargetStatus{
			Labels:           ts.Labels,
			DiscoveredLabels: ts.DiscoveredLabels,
			Details:          details,
			Ready:            len(ts.Files) > 0,
		})
	}
	return out
}

func (t targetSource) DroppedTargets() map[string][]server.DroppedTarget {
	if t.files == nil {
		return nil
	}
	out := map[string][]server.DroppedTarget{}
	for _, d := range t.files.DroppedTargets() {
		out[d.Job] = append(out[d.Job], server.DroppedTarget{DiscoveredLabels: d.DiscoveredLabels, Reason: d.Reason})
	}
	return out
}

// spoolOptions turns the wal: block into the clients' spool settings; nil
// when the spool is off.
func spoolOptions(w config.WALConfig) *client.SpoolOptions {
	if !w.Enabled {
		return nil
	}
	whenFull := spool.Block
	if w.WhenFull == config.WALWhenFullDropOldest {
		whenFull = spool.DropOldest
	}
	return &client.SpoolOptions{
		Dir:           w.Dir,
		SegmentSize:   int64(w.SegmentSize),
		MaxSize:       int64(w.MaxSize),
		WhenFull:      whenFull,
		SyncEachBatch: w.Sync == config.WALSyncBatch,
	}
}
