package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
)

func TestTargetsPage(t *testing.T) {
	src := &fakeSource{active: map[string][]TargetStatus{
		"zeta": {{Labels: model.LabelSet{"job": "zeta"}, Ready: false}},
		"alpha": {
			{Labels: model.LabelSet{"job": "alpha", "filename": "/b.log"}, Ready: true,
				Details: map[string]string{"/b.log": "10/20"}},
			{Labels: model.LabelSet{"job": "alpha", "filename": "/a.log"}, Ready: true,
				DiscoveredLabels: model.LabelSet{"__path__": "/*.log"},
				Details:          map[string]string{"/a.log": "5/7"}},
		},
		"xss": {{Labels: model.LabelSet{"job": "<script>alert(1)</script>"}}},
	}}
	s := newTestServer(t, testConfig(), Options{Targets: src})
	body := serve(s, http.MethodGet, "/targets").Body.String()

	inOrder(t, body, "alpha", "(2/2 ready)", "/a.log", "5/7", "/b.log", "10/20", "xss", "zeta", "(0/1 ready)", "Not ready")
	for _, want := range []string{`__path__="/*.log"`, `<span class="ready">Ready</span>`, `href="/metrics"`} {
		if !strings.Contains(body, want) {
			t.Errorf("targets page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("label values are not escaped")
	}
}

func TestTargetsPageEmpty(t *testing.T) {
	cfg := testConfig()
	cfg.RegisterInstrumentation = false
	s := newTestServer(t, cfg, Options{})
	body := serve(s, http.MethodGet, "/targets").Body.String()
	if !strings.Contains(body, "No active targets.") {
		t.Errorf("empty targets page lacks the empty notice:\n%s", body)
	}
	if strings.Contains(body, "/metrics") {
		t.Error("metrics link shown while register_instrumentation is off")
	}
}

func TestServiceDiscoveryPage(t *testing.T) {
	var dropped []DroppedTarget
	for i := range 150 {
		dropped = append(dropped, DroppedTarget{
			DiscoveredLabels: model.LabelSet{"__path__": model.LabelValue(fmt.Sprintf("/drop/%03d", i))},
			Reason:           "dropped by relabel_configs",
		})
	}
	src := &fakeSource{
		active: map[string][]TargetStatus{
			"files": {{Labels: model.LabelSet{"job": "files"}, DiscoveredLabels: model.LabelSet{"__path__": "/var/log/*.log"}}},
		},
		dropped: map[string][]DroppedTarget{
			"files":     dropped,
			"onlydrops": {{DiscoveredLabels: model.LabelSet{"__path__": "/x"}, Reason: "no labels"}},
		},
	}
	s := newTestServer(t, testConfig(), Options{Targets: src})
	body := serve(s, http.MethodGet, "/service-discovery").Body.String()

	inOrder(t, body, "files", "(1 / 151 active targets)", "Showing 100 of 150 dropped targets.",
		`job="files"`, "/drop/000", "/drop/099", "onlydrops", "(0 / 1 active targets)", "Dropped</span>: no labels")
	if strings.Contains(body, "/drop/100") {
		t.Error("more than 100 dropped targets shown for one job")
	}
	if n := strings.Count(body, "dropped by relabel_configs"); n != maxDroppedPerJob {
		t.Errorf("%d dropped rows shown, want %d", n, maxDroppedPerJob)
	}
}

func TestServiceDiscoveryPageDoesNotReorderSourceSlices(t *testing.T) {
	dropped := []DroppedTarget{
		{DiscoveredLabels: model.LabelSet{"a": "2"}},
		{DiscoveredLabels: model.LabelSet{"a": "1"}},
	}
	s := newTestServer(t, testConfig(), Options{Targets: &fakeSource{dropped: map[string][]DroppedTarget{"j": dropped}}})
	serve(s, http.MethodGet, "/service-discovery")
	if dropped[0].DiscoveredLabels["a"] != "2" {
		t.Error("rendering sorted the source's own slice")
	}
}

func TestConfigPageEscapes(t *testing.T) {
	s := newTestServer(t, testConfig(), Options{ConfigText: func() string { return "a: </pre><b>x</b>" }})
	body := serve(s, http.MethodGet, "/config").Body.String()
	if !strings.Contains(body, "a: &lt;/pre&gt;&lt;b&gt;x&lt;/b&gt;") {
		t.Errorf("config text not escaped:\n%s", body)
	}
}

// inOrder checks that every want occurs in body, each after the previous one.
func inOrder(t *testing.T, body string, wants ...string) {
	t.Helper()
	rest := body
	for _, w := range wants {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("%q missing (or out of order) in page:\n%s", w, body)
		}
		rest = rest[i+len(w):]
	}
}
