package server

import (
	"bytes"
	"cmp"
	"embed"
	"html/template"
	"net/http"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"
)

// maxDroppedPerJob bounds /service-discovery as Promtail does: relabelling
// can drop thousands of discovered targets per job.
const maxDroppedPerJob = 100

//go:embed templates/*.html
var templateFS embed.FS

var (
	targetsTemplate          = mustPageTemplate("targets.html")
	serviceDiscoveryTemplate = mustPageTemplate("service-discovery.html")
	configTemplate           = mustPageTemplate("config.html")
)

func mustPageTemplate(name string) *template.Template {
	return template.Must(template.New(name).ParseFS(templateFS, "templates/base.html", "templates/"+name))
}

// page is what base.html renders around a page's content.
type page struct {
	Title       string
	Base        string
	Version     string
	ShowMetrics bool
	Content     any
}

type labelPair struct{ Name, Value string }

type detailRow struct{ Key, Value string }

type targetRow struct {
	Labels     []labelPair
	Discovered []labelPair
	Details    []detailRow
	Ready      bool
}

type targetJob struct {
	Name         string
	Ready, Total int
	Targets      []targetRow
}

type discoveryRow struct {
	Discovered []labelPair
	Labels     []labelPair
	Dropped    bool
	Reason     string
}

type discoveryJob struct {
	Name                        string
	Active, DroppedTotal, Total int
	DroppedShown                int
	Rows                        []discoveryRow
}

// pageHandler renders a page into memory first, so that a template error
// becomes a clean 500 instead of a half-written page.
func (s *Server) pageHandler(base string, tmpl *template.Template, data func() (string, any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		title, content := data()
		var buf bytes.Buffer
		err := tmpl.ExecuteTemplate(&buf, "base", page{
			Title:       title,
			Base:        base,
			Version:     version.Info(),
			ShowMetrics: s.cfg.RegisterInstrumentation,
			Content:     content,
		})
		if err != nil {
			s.log.Error("rendering page", "page", title, "err", err)
			http.Error(w, "rendering page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	})
}

func (s *Server) targetsData() (string, any) {
	var active map[string][]TargetStatus
	if ts := s.source(); ts != nil {
		active = ts.ActiveTargets()
	}
	jobs := make([]targetJob, 0, len(active))
	for name, targets := range active {
		job := targetJob{Name: name, Total: len(targets), Targets: make([]targetRow, 0, len(targets))}
		for _, t := range targets {
			if t.Ready {
				job.Ready++
			}
			job.Targets = append(job.Targets, targetRow{
				Labels:     sortedLabels(t.Labels),
				Discovered: sortedLabels(t.DiscoveredLabels),
				Details:    sortedDetails(t.Details),
				Ready:      t.Ready,
			})
		}
		slices.SortFunc(job.Targets, func(a, b targetRow) int { return compareLabels(a.Labels, b.Labels) })
		jobs = append(jobs, job)
	}
	slices.SortFunc(jobs, func(a, b targetJob) int { return cmp.Compare(a.Name, b.Name) })
	return "Targets", jobs
}

func (s *Server) serviceDiscoveryData() (string, any) {
	var (
		active  map[string][]TargetStatus
		dropped map[string][]DroppedTarget
	)
	if ts := s.source(); ts != nil {
		active, dropped = ts.ActiveTargets(), ts.DroppedTargets()
	}
	byName := make(map[string]*discoveryJob, len(active)+len(dropped))
	job := func(name string) *discoveryJob {
		j, ok := byName[name]
		if !ok {
			j = &discoveryJob{Name: name}
			byName[name] = j
		}
		return j
	}
	for name, targets := range active {
		j := job(name)
		j.Active = len(targets)
		for _, t := range targets {
			j.Rows = append(j.Rows, discoveryRow{
				Discovered: sortedLabels(t.DiscoveredLabels),
				Labels:     sortedLabels(t.Labels),
			})
		}
		slices.SortFunc(j.Rows, func(a, b discoveryRow) int { return compareLabels(a.Labels, b.Labels) })
	}
	for name, targets := range dropped {
		j := job(name)
		j.DroppedTotal = len(targets)
		rows := make([]discoveryRow, 0, len(targets))
		for _, t := range targets {
			rows = append(rows, discoveryRow{Discovered: sortedLabels(t.DiscoveredLabels), Dropped: true, Reason: t.Reason})
		}
		slices.SortFunc(rows, func(a, b discoveryRow) int { return compareLabels(a.Discovered, b.Discovered) })
		if len(rows) > maxDroppedPerJob {
			rows = rows[:maxDroppedPerJob]
		}
		j.DroppedShown = len(rows)
		j.Rows = append(j.Rows, rows...)
	}
	jobs := make([]discoveryJob, 0, len(byName))
	for _, j := range byName {
		j.Total = j.Active + j.DroppedTotal
		jobs = append(jobs, *j)
	}
	slices.SortFunc(jobs, func(a, b discoveryJob) int { return cmp.Compare(a.Name, b.Name) })
	return "Service Discovery", jobs
}

func (s *Server) configData() (string, any) {
	text := ""
	if s.configText != nil {
		text = s.configText()
	}
	return "Config", text
}

func sortedLabels(ls model.LabelSet) []labelPair {
	pairs := make([]labelPair, 0, len(ls))
	for name, value := range ls {
		pairs = append(pairs, labelPair{Name: string(name), Value: string(value)})
	}
	slices.SortFunc(pairs, func(a, b labelPair) int { return cmp.Compare(a.Name, b.Name) })
	return pairs
}

func sortedDetails(details map[string]string) []detailRow {
	rows := make([]detailRow, 0, len(details))
	for k, v := range details {
		rows = append(rows, detailRow{Key: k, Value: v})
	}
	slices.SortFunc(rows, func(a, b detailRow) int { return cmp.Compare(a.Key, b.Key) })
	return rows
}

func compareLabels(a, b []labelPair) int {
	return slices.CompareFunc(a, b, func(x, y labelPair) int {
		return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.Value, y.Value))
	})
}
