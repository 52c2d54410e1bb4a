package server

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/net/netutil"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

// What follows is shared by every HTTP server the agent runs (the main one
// and the loki_push_api targets'), which the same dskit server keys
// configure: a key honoured here is honoured by all of them.

// ListenNetwork returns the http_listen_network to listen on: tcp when
// unset; the error, for the caller to prefix with the key, when it is not
// one of tcp, tcp4 and tcp6.
func ListenNetwork(network string) (string, error) {
	switch network {
	case "":
		return config.DefaultListenNetwork, nil
	case "tcp", "tcp4", "tcp6":
		return network, nil
	}
	return "", fmt.Errorf("%q is not supported (want tcp, tcp4 or tcp6)", network)
}

// Listen opens an HTTP server's listener on network and addr, taking at most
// connLimit connections at once when it is positive and, with proxyProtocol,
// reading the PROXY protocol header (v1 or v2) a load balancer puts ahead of
// each connection, so that the connection's remote address is the client's.
// Connections without a header are served as they are, as dskit does. The
// first read of every connection waits at most readHeaderTimeout (the
// library's 10s if zero) for a header; a peer silent that long is then served
// as one that sent none.
func Listen(network, addr string, connLimit int, proxyProtocol bool, readHeaderTimeout time.Duration) (net.Listener, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	if connLimit > 0 {
		ln = netutil.LimitListener(ln, connLimit)
	}
	if proxyProtocol {
		ln = &proxyproto.Listener{
			Listener:          ln,
			ReadHeaderTimeout: readHeaderTimeout,
		}
	}
	return ln, nil
}

// Serve serves srv on ln, over TLS when srv has a TLSConfig (whose
// certificate NewTLSConfig set; ServeTLS also offers HTTP/2).
func Serve(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// NormalizePrefix gives an http_path_prefix a leading slash and no trailing
// one, so that "push", "/push" and "/push/" all serve "/push/ready".
func NormalizePrefix(p string) string {
	p = strings.TrimRight(p, "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}
