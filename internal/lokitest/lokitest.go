// Package lokitest is a Loki push receiver for tests: it decodes what the agent
// really sends (snappy-compressed protobuf, or JSON) and keeps every entry, so a
// test can assert on lines, labels, tenants and headers.
package lokitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/prometheus/promql/parser"
)

// Entry is one received log line with the stream it came in.
type Entry struct {
	Labels             map[string]string
	Tenant             string
	Timestamp          time.Time
	Line               string
	StructuredMetadata map[string]string
}

// Server is a loopback Loki. Its zero value is not usable; call New.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	entries  []Entry
	requests int
	headers  []http.Header
	// status, when set, decides the answer to each push request before it is
	// decoded; returning 0 accepts the request.
	status func(n int) int
}

// New starts a receiver on 127.0.0.1. status may be nil (always accept).
func New(status func(requestNumber int) int) *Server {
	s := &Server{status: status}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// PushURL is the URL to put in a client's url:.
func (s *Server) PushURL() string { return s.URL + "/loki/api/v1/push" }

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	if s.status != nil {
		if code := s.status(n); code != 0 {
			http.Error(w, fmt.Sprintf("injected status %d", code), code)
			return
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req push.PushRequest
	if r.Header.Get("Content-Type") == "application/json" {
		err = json.Unmarshal(body, &req)
	} else {
		var raw []byte
		if raw, err = snappy.Decode(nil, body); err == nil {
			err = req.Unmarshal(raw)
		}
	}
	if err != nil {
		http.Error(w, "bad push body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var got []Entry
	for _, st := range req.Streams {
		ls, err := metricParser.ParseMetric(st.Labels)
		if err != nil {
			http.Error(w, fmt.Sprintf("bad labels %q: %v", st.Labels, err), http.StatusBadRequest)
			return
		}
		for _, e := range st.Entries {
			var sm map[string]string
			if len(e.StructuredMetadata) > 0 {
				sm = make(map[string]string, len(e.StructuredMetadata))
				for _, l := range e.StructuredMetadata {
					sm[l.Name] = l.Value
				}
			}
			got = append(got, Entry{Labels: ls.Map(), Tenant: r.Header.Get("X-Scope-OrgID"), Timestamp: e.Timestamp, Line: e.Line, StructuredMetadata: sm})
		}
	}
	s.mu.Lock()
	s.entries = append(s.entries, got...)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Entries returns a copy of everything accepted so far, in arrival order.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.entries...)
}

// Requests is the number of push requests seen, refused ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Headers returns the headers of every request seen.
func (s *Server) Headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.headers...)
}

// WaitFor polls until cond holds for the accepted entries or timeout passes,
// and reports whether it held.
func (s *Server) WaitFor(timeout time.Duration, cond func([]Entry) bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond(s.Entries()) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var metricParser = parser.NewParser(parser.Options{})
