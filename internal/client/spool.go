package client

import (
	"errors"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/spool"
)

// SpoolOptions turn on the disk spool: every client writes the batches it
// builds to its own spool directory, Dir/<client name>, and sends from there.
type SpoolOptions struct {
	Dir           string
	SegmentSize   int64
	MaxSize       int64
	WhenFull      spool.WhenFull
	SyncEachBatch bool
}

const (
	// spoolMaxRetryWait caps the wait between push attempts of a spooling
	// client: it retries for ever, and must notice soon that Loki is back.
	spoolMaxRetryWait = 10 * time.Second
	// spoolRetryWait spaces out attempts to write to a failing disk.
	spoolRetryWait = time.Second
)

// spoolBatch writes a finished batch to the spool, waiting while the spool
// is full or the disk fails, and settles its entries once the batch is
// there: from then on the spool answers for them, not the files they came
// from. It returns false when the client stops first; the entries then stay
// unsettled, for their sources to read again.
func (c *client) spoolBatch(t *tenant, body []byte, entries int) bool {
	b := spool.Batch{Tenant: t.id, Entries: entries, Body: body}
	for {
		err := c.spool.Append(&b)
		if err == nil {
			break
		}
		if !errors.Is(err, spool.ErrFull) {
			c.logger.Error("cannot spool batch", "err", err)
			return false
		}
		if n, ok := c.spoolLog.allow(); ok {
			c.logger.Warn("spool full: readers wait until Loki takes what is spooled", "suppressed", n)
		}
		select {
		case <-c.retryCtx.Done():
			return false
		default:
		}
		c.spool.WaitRoom(c.retryCtx.Done())
	}
	for {
		err := c.spool.Sync()
		if err == nil {
			return true
		}
		if n, ok := c.spoolLog.allow(); ok {
			c.logger.Error("cannot write to the spool; the batch waits in memory and readers wait with it",
				"err", err, "retry_in", spoolRetryWait, "suppressed", n)
		}
		if !wait(c.requestCtx, spoolRetryWait) {
			return false
		}
	}
}

// sendSpooled pushes the spooled batches in order and tells the spool about
// each one Loki took, or refused for good. It ends once the batching
// goroutine has exited and the spool has nothing left to send, or when the
// flush deadline cuts a push short; what is left is sent after the restart.
func (c *client) sendSpooled() {
	defer close(c.senderExited)
	tenants := make(map[string]*tenant)
	for {
		b, end, ok, err := c.spool.Next()
		if err != nil {
			if n, ok := c.spoolLog.allow(); ok {
				c.logger.Error("cannot read the spool", "err", err, "suppressed", n)
			}
			if !wait(c.requestCtx, spoolRetryWait) {
				return
			}
			continue
		}
		if !ok {
			select {
			case <-c.exited:
				return
			default:
			}
			select {
			case <-c.spool.Readable():
			case <-c.exited:
			case <-c.requestCtx.Done():
				return
			}
			continue
		}
		t, known := tenants[b.Tenant]
		if !known {
			t = &tenant{id: b.Tenant, metrics: c.metrics.forTenant(c.host, b.Tenant)}
			tenants[b.Tenant] = t
		}
		body := newPayload(b.Body, nil)
		settled := c.push(t, body, b.Entries)
		body.release()
		if !settled {
			return
		}
		c.spool.Ack(end)
	}
}
