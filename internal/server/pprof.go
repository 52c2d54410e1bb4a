package server

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// pprofHandler serves the net/http/pprof pages under prefix. The pprof
// handlers find the profile name by cutting "/debug/pprof/" from the path, so
// the prefix is stripped first; dskit forwards the prefixed path unchanged,
// which makes profiling unreachable behind http_path_prefix.
func pprofHandler(prefix string) http.Handler {
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/debug/pprof":
			http.Redirect(w, r, prefix+"/debug/pprof/", http.StatusMovedPermanently)
		case "/debug/pprof/cmdline":
			pprof.Cmdline(w, r)
		case "/debug/pprof/profile":
			pprof.Profile(w, r)
		case "/debug/pprof/symbol":
			pprof.Symbol(w, r)
		case "/debug/pprof/trace":
			pprof.Trace(w, r)
		default:
			if !strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
				http.NotFound(w, r)
				return
			}
			pprof.Index(w, r)
		}
	})
	if prefix != "" {
		h = http.StripPrefix(prefix, h)
	}
	return h
}
