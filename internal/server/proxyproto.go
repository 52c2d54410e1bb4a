package server

import (
	"cmp"
	"net"
	"time"

	"github.com/pires/go-proxyproto"
)

// ProxyProtocolListener reads the PROXY protocol header (v1 or v2) a load
// balancer puts ahead of each connection accepted from ln, so that the
// connection's remote address is the client's; connections without a header
// are served as they are, as dskit does. A peer that starts a header gets
// readHeaderTimeout (10s if zero) to finish it.
func ProxyProtocolListener(ln net.Listener, readHeaderTimeout time.Duration) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: cmp.Or(readHeaderTimeout, proxyproto.DefaultReadHeaderTimeout),
	}
}
