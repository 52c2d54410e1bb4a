package client

import (
	"errors"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/spool"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// SpoolOptions turn on the disk spool: every client writes what it is handed
// to its own spool directory, Dir/<client name>, and sends from there.
type SpoolOptions struct {
	Dir           string
	SegmentSize   int64
	MaxSize       int64
	WhenFull      spool.WhenFull
	SyncEachBatch bool
}

const (
	// spoolReadAhead is how many entries the spool reader decodes ahead of
	// the batching goroutine.
	spoolReadAhead = 1024
	// spoolMaxRetryWait caps the wait between push attempts of a spooling
	// client: it retries for ever, and must notice soon that Loki is back.
	spoolMaxRetryWait = 10 * time.Second
	// syncAfter bounds what ingest appends before writing it out, when
	// entries keep coming without a pause.
	syncAfter = 1 << 20
	// spoolRetryWait spaces out attempts to write to a failing disk.
	spoolRetryWait = time.Second
	// readBatch is how many records share one acknowledgement.
	readBatch = 512
)

// ingest writes what the Manager hands the client to the spool. Entries are
// appended as they come and written out (and fsynced, by default) whenever
// the queue runs dry, so one sync covers everything that arrived meanwhile;
// only then are their Acks released, letting file positions move past them.
func (c *client) ingest() {
	defer c.stopReader()
	var pending acks
	for {
		e, ok := <-c.queue
		for ok {
			if !c.appendToSpool(&e, &pending) {
				return
			}
			if c.spool.Buffered() >= syncAfter {
				break
			}
			select {
			case e, ok = <-c.queue:
				continue
			default:
			}
			break
		}
		if !c.syncSpool(&pending) || !ok {
			return
		}
	}
}

// appendToSpool appends e, waiting for room while the spool is full. It
// returns false when the client is stopping before there was room; e is then
// left unsettled, for its source to read again.
func (c *client) appendToSpool(e *stages.Entry, pending *acks) bool {
	for {
		err := c.spool.Append(e)
		if err == nil {
			pending.add(e.Ack)
			return true
		}
		if !errors.Is(err, spool.ErrFull) {
			c.logger.Error("cannot spool entry", "err", err)
			return false
		}
		if n, ok := c.spoolLog.allow(); ok {
			c.logger.Warn("spool full: readers wait until Loki takes what is spooled", "suppressed", n)
		}
		if !c.syncSpool(pending) {
			return false
		}
		select {
		case <-c.requestCtx.Done():
			return false
		default:
		}
		c.spool.WaitRoom(c.requestCtx.Done())
	}
}

// syncSpool writes out what was appended, retrying while the disk fails, and
// settles the entries written. It returns false when the client stops first.
func (c *client) syncSpool(pending *acks) bool {
	for {
		err := c.spool.Sync()
		if err == nil {
			pending.release()
			return true
		}
		if n, ok := c.spoolLog.allow(); ok {
			c.logger.Error("cannot write to the spool; entries wait in memory and readers wait with them",
				"err", err, "retry_in", spoolRetryWait, "suppressed", n)
		}
		if !wait(c.requestCtx, spoolRetryWait) {
			return false
		}
	}
}

// readSpool hands the spooled records to the batching goroutine. Records
// are acknowledged in groups of up to readBatch: once Loki took every record
// of a group and of the groups before it, the spool forgets them.
func (c *client) readSpool() {
	defer close(c.input)
	seq := api.NewSequence(c.spool.Ack)
	var batch *api.Batch
	var last int64
	n := 0
	endBatch := func() {
		if batch != nil {
			c.spool.EndBatch(last)
			batch.End(last)
			batch, n = nil, 0
		}
	}
	defer endBatch()
	for {
		e, end, ok, err := c.spool.Next()
		if err != nil {
			if n, ok := c.spoolLog.allow(); ok {
				c.logger.Error("cannot read the spool", "err", err, "suppressed", n)
			}
			endBatch()
			if !wait(c.readerCtx, spoolRetryWait) {
				return
			}
			continue
		}
		if !ok {
			endBatch()
			if c.readerCtx.Err() != nil {
				return
			}
			c.spool.Wait(c.readerCtx)
			continue
		}
		if batch == nil {
			batch = seq.Begin()
		}
		e.Ack = batch.Ack
		e.Ack.Hold(1)
		select {
		case c.input <- e:
		case <-c.readerCtx.Done():
			e.Ack.Release(1)
			return
		}
		last = end
		if n++; n == readBatch {
			endBatch()
		}
	}
}
