package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/lokitest"
)

// flakyLoki stands between the agent and the test Loki: it refuses
// connections until up is called, then answers with whatever status returns
// (0: pass the request on).
type flakyLoki struct {
	addr   string
	loki   *lokitest.Server
	status atomic.Value // func() int
	srv    *http.Server
}

func newFlakyLoki(t *testing.T, loki *lokitest.Server) *flakyLoki {
	f := &flakyLoki{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), loki: loki}
	f.status.Store(func() int { return 0 })
	t.Cleanup(func() {
		if f.srv != nil {
			f.srv.Close()
		}
	})
	return f
}

func (f *flakyLoki) pushURL() string { return "http://" + f.addr + "/loki/api/v1/push" }

func (f *flakyLoki) up(t *testing.T) {
	target, _ := url.Parse(f.loki.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	f.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := f.status.Load().(func() int)(); code != 0 {
			http.Error(w, "injected", code)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	go f.srv.Serve(l)
}

// arrived counts the entries Loki holds per line.
func arrived(loki *lokitest.Server) map[string]int {
	got := map[string]int{}
	for _, e := range loki.Entries() {
		got[e.Line]++
	}
	return got
}

func spoolConfig(dir, pushURL, glob string, batchSize int) string {
	return fmt.Sprintf(`
server: {disable: true}
positions: {filename: %[1]s/positions.yaml, sync_period: 200ms}
wal: {enabled: true, dir: %[1]s/spool, segmentSize: 64KB, maxSize: 64MB}
clients: [{url: %[2]s, batchwait: 100ms, batchsize: %[4]d, backoff_config: {min_period: 50ms, max_period: 300ms, max_retries: 2}}]
scrape_configs:
- job_name: app
  static_configs: [{labels: {job: app, __path__: "%[3]s"}}]
`, dir, pushURL, glob, batchSize)
}

// Loki refuses connections, then answers 500, then 429, then takes
// everything, while lines are written at a steady rate: every line arrives,
// none twice, although the client's max_retries would have made Promtail drop
// batches.
func TestSpoolRidesOutLokiOutage(t *testing.T) {
	loki := lokitest.New(nil)
	defer loki.Close()
	flaky := newFlakyLoki(t, loki)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	agent := startAgent(t, nil, "-config.file="+writeConfig(t, dir, spoolConfig(dir, flaky.pushURL(), logFile, 8<<10)))

	const total = 3000
	written := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			written <- err
			return
		}
		defer f.Close()
		for i := 0; i < total; i++ {
			if _, err := fmt.Fprintf(f, "outage %d\n", i); err != nil {
				written <- err
				return
			}
			if i%50 == 49 {
				time.Sleep(25 * time.Millisecond)
			}
		}
		written <- nil
	}()
	time.Sleep(1500 * time.Millisecond) // connections refused
	flaky.status.Store(func() int { return http.StatusInternalServerError })
	flaky.up(t)
	time.Sleep(1500 * time.Millisecond)
	flaky.status.Store(func() int { return http.StatusTooManyRequests })
	time.Sleep(1500 * time.Millisecond)
	if n := len(loki.Entries()); n != 0 {
		t.Fatalf("%d entries reached Loki while it refused everything", n)
	}
	flaky.status.Store(func() int { return 0 })
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if !loki.WaitFor(30*time.Second, func(es []lokitest.Entry) bool { return len(es) >= total }) {
		t.Fatalf("%d of %d lines arrived", len(arrived(loki)), total)
	}
	agent.stop(t)
	got := arrived(loki)
	for i := range total {
		line := fmt.Sprintf("outage %d", i)
		if got[line] != 1 {
			t.Fatalf("%q arrived %d times", line, got[line])
		}
	}
}

// The agent is killed with SIGKILL at random moments while lines are written
// and the file is rotated (a kill may fall between a rename and the agent
// noticing it); after the last restart every line has arrived at least once,
// and each kill duplicated at most about one batch.
func TestSpoolKillNineLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100k lines with kills; skipped with -short")
	}
	loki := lokitest.New(nil)
	defer loki.Close()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	const batchSize = 16 << 10
	cfg := writeConfig(t, dir, spoolConfig(dir, loki.PushURL(), filepath.Join(dir, "app.log*"), batchSize))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	seed := rng.Uint64()
	t.Logf("kill schedule seed %d", seed)
	rng = rand.New(rand.NewPCG(seed, 7))

	const total, chunk, rotateEvery = 100_000, 500, 25_000
	agent := startAgent(t, nil, "-config.file="+cfg)
	kills := 0
	nextKill := time.Now().Add(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
	for i := 0; i < total; i += chunk {
		if i > 0 && i%rotateEvery == 0 {
			if err := os.Rename(logFile, logFile+"."+strconv.Itoa(i/rotateEvery)); err != nil {
				t.Fatal(err)
			}
		}
		appendLines(t, logFile, "kill", i, i+chunk)
		time.Sleep(60 * time.Millisecond)
		if time.Now().After(nextKill) {
			agent.cmd.Process.Kill()
			<-agent.done
			kills++
			agent = startAgent(t, nil, "-config.file="+cfg)
			nextKill = time.Now().Add(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		}
	}
	if !loki.WaitFor(60*time.Second, func([]lokitest.Entry) bool { return len(arrived(loki)) >= total }) {
		t.Fatalf("after %d kills, %d of %d lines arrived", kills, len(arrived(loki)), total)
	}
	agent.stop(t)
	got := arrived(loki)
	dups := 0
	for i := range total {
		n := got[fmt.Sprintf("kill %d", i)]
		if n == 0 {
			t.Fatalf("line %d lost after %d kills", i, kills)
		}
		dups += n - 1
	}
	// A kill duplicates the batch Loki took but the spool had not yet
	// marked as sent, and the lines spooled since the positions file was
	// last written (it is written within 100 ms of each spooled batch; the
	// test writes about 8,000 lines a second).
	perKill := batchSize/len("kill 99999") + 1 + 800
	t.Logf("%d kills, %d duplicates (bound %d per kill)", kills, dups, perKill)
	if kills == 0 {
		t.Fatal("the agent was never killed")
	}
	if dups > kills*perKill {
		t.Fatalf("%d duplicates after %d kills, more than %d per kill", dups, kills, perKill)
	}
}

// With the spool off, positions follow acknowledgements: lines read while
// Loki refuses them are read again after a restart instead of being lost.
func TestPositionsWaitForLokiWithoutSpool(t *testing.T) {
	var accept atomic.Bool
	loki := lokitest.New(func(int) int {
		if accept.Load() {
			return 0
		}
		return http.StatusInternalServerError
	})
	defer loki.Close()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	appendLines(t, logFile, "held", 0, 100)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
server: {disable: true}
positions: {filename: %[1]s/positions.yaml, sync_period: 100ms}
clients: [{url: %[2]s, batchwait: 50ms, backoff_config: {min_period: 50ms, max_period: 100ms, max_retries: 1000}}]
scrape_configs:
- job_name: app
  static_configs: [{labels: {job: app, __path__: %[3]s}}]
`, dir, loki.PushURL(), logFile))
	agent := startAgent(t, nil, "-config.file="+cfg)
	deadline := time.Now().Add(10 * time.Second)
	for loki.Requests() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // several position syncs
	agent.cmd.Process.Kill()
	<-agent.done
	positions, _ := os.ReadFile(filepath.Join(dir, "positions.yaml"))
	info, err := os.Stat(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(positions), `"`+strconv.FormatInt(info.Size(), 10)+`"`) {
		t.Fatalf("positions moved past lines Loki never took:\n%s", positions)
	}
	accept.Store(true)
	agent = startAgent(t, nil, "-config.file="+cfg)
	if !loki.WaitFor(20*time.Second, func([]lokitest.Entry) bool { return len(arrived(loki)) >= 100 }) {
		t.Fatalf("%d of 100 lines arrived after the restart", len(arrived(loki)))
	}
	agent.stop(t)
}
