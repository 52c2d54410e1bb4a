//go:build !(linux && cgo && promtail_journal_enabled)

package journal

import (
	"errors"
	"testing"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

func TestNewWithoutJournalSupport(t *testing.T) {
	if Supported {
		t.Fatal("Supported is true in a build without the journal reader")
	}
	handler := api.EntryHandlerFunc(func(stages.Entry) { t.Error("an entry was handed on") })
	cfg := &config.JournalConfig{MaxAge: "12h", Path: "/nonexistent/journal"}
	target, err := New(nil, NewMetrics(nil), "journal", cfg, nil, handler, nil)
	if target != nil {
		t.Fatal("New returned a target")
	}
	if !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("error %v is not ErrNotBuilt", err)
	}
	const want = `job "journal": journal: journal targets need a build with -tags promtail_journal_enabled and libsystemd; this binary was built without`
	if err.Error() != want {
		t.Fatalf("error = %q\nwant    %q", err, want)
	}
	// Callers stop and inspect targets the same way in every build.
	target.Stop()
	if d := target.Details(); d != nil {
		t.Fatalf("Details = %v, want nil", d)
	}
}
