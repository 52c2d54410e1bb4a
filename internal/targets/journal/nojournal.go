//go:build !(linux && cgo && promtail_journal_enabled)

package journal

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/positions"
)

// Supported reports whether this build can read the journal.
const Supported = false

// Target is never created in this build; its methods exist so that callers
// compile the same way in every build.
type Target struct{}

// New fails with ErrNotBuilt: this build has no journal reader.
func New(_ *slog.Logger, _ *Metrics, jobName string, _ *config.JournalConfig,
	_ []*relabel.Config, _ api.EntryHandler, _ *positions.Positions) (*Target, error) {
	return nil, fmt.Errorf("job %q: journal: %w", jobName, ErrNotBuilt)
}

// Stop does nothing: no Target exists in this build.
func (*Target) Stop() {}

// Details is empty: no Target exists in this build.
func (*Target) Details() map[string]string { return nil }
