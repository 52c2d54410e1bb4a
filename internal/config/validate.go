package config

import (
	"errors"
	"fmt"

	"github.com/prometheus/common/model"
)

// Validate makes the checks Promtail makes when it starts, after Setup
// (which Apply runs); -check-syntax does not make them. The messages of the
// first three checks are Promtail's.
func (c *Config) Validate() error {
	if len(c.Clients) == 0 {
		return errors.New("at least one client config must be provided")
	}
	for i := range c.Clients {
		if c.Clients[i].URL.URL == nil {
			return errors.New("client needs target URL")
		}
	}
	for i := range c.ScrapeConfigs {
		if err := c.ScrapeConfigs[i].validate(c.TargetConfig.Stdin); err != nil {
			return err
		}
	}
	return c.WAL.validate()
}

func (w *WALConfig) validate() error {
	if !w.Enabled {
		return nil
	}
	switch {
	case w.Dir == "":
		return errors.New("wal.dir: the spool needs a directory when wal.enabled is true")
	case w.WhenFull != WALWhenFullBlock && w.WhenFull != WALWhenFullDropOldest:
		return fmt.Errorf("wal.whenFull: %q is neither %q nor %q", w.WhenFull, WALWhenFullBlock, WALWhenFullDropOldest)
	case w.Sync != WALSyncBatch && w.Sync != WALSyncNone:
		return fmt.Errorf("wal.sync: %q is neither %q nor %q", w.Sync, WALSyncBatch, WALSyncNone)
	case w.SegmentSize < 4<<10 || w.SegmentSize >= 1<<32:
		return fmt.Errorf("wal.segmentSize: %d is not between 4KiB and 4GiB", w.SegmentSize)
	case w.MaxSize < 2*w.SegmentSize:
		return fmt.Errorf("wal.maxSize: %d is less than two segments (wal.segmentSize %d)", w.MaxSize, w.SegmentSize)
	}
	return nil
}

// validate checks one job. In stdin mode a job needs no target: only its
// pipeline (and static labels) are used.
func (c *ScrapeConfig) validate(stdin bool) error {
	kind := c.Kind()
	if kind == KindNone && !stdin {
		return fmt.Errorf("no valid target scrape config defined for %q", c.JobName)
	}
	for i, rc := range c.RelabelConfigs {
		if rc == nil {
			return fmt.Errorf("job %q: relabel_configs[%d] is empty", c.JobName, i)
		}
		if err := rc.Validate(model.UTF8Validation); err != nil {
			return fmt.Errorf("job %q: relabel_configs[%d]: %w", c.JobName, i, err)
		}
	}
	for _, sd := range c.ServiceDiscoveryConfigs {
		if u, ok := sd.(unsupportedError); ok {
			return fmt.Errorf("job %q: %w", c.JobName, u.unsupported())
		}
	}
	switch kind {
	case KindJournal:
		if _, err := c.Journal.MaxAgeDuration(); err != nil {
			return fmt.Errorf("job %q: %w", c.JobName, err)
		}
	case KindSyslog:
		if err := c.Syslog.validate(); err != nil {
			return fmt.Errorf("job %q: %w", c.JobName, err)
		}
	case KindOsqueryTLS:
		if err := c.OsqueryTLS.Validate(); err != nil {
			return fmt.Errorf("job %q: %w", c.JobName, err)
		}
	}
	return nil
}
