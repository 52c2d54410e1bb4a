package server

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

// rawGet sends a GET for /ready on a new connection, after prefix, over
// TLS when tlsConfig is set, and returns the response status.
func rawGet(t *testing.T, addr, prefix string, tlsConfig *tls.Config) int {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := raw.Write([]byte(prefix)); err != nil {
		t.Fatal(err)
	}
	var conn io.ReadWriter = raw
	if tlsConfig != nil {
		conn = tls.Client(raw, tlsConfig)
	}
	if _, err := conn.Write([]byte("GET /ready HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestProxyProtocol(t *testing.T) {
	pki := newTestPKI(t)
	const v1Header = "PROXY TCP4 192.0.2.10 127.0.0.1 40000 80\r\n"
	v2Header := string([]byte{
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, // signature
		0x21, 0x11, 0x00, 0x0c, // v2 PROXY, TCP over IPv4, 12 address bytes
		192, 0, 2, 10, 127, 0, 0, 1, 0x9c, 0x40, 0x00, 0x50,
	})
	for _, tc := range []struct {
		name    string
		enabled bool
		tls     bool
		prefix  string
		want    int
	}{
		{"v1 header", true, false, v1Header, http.StatusOK},
		{"v2 header", true, false, v2Header, http.StatusOK},
		{"no header", true, false, "", http.StatusOK},
		{"header, then TLS", true, true, v1Header, http.StatusOK},
		{"header while disabled", false, false, v1Header, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.ProxyProtocolEnabled = tc.enabled
			var clientTLS *tls.Config
			if tc.tls {
				cfg.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile}
				clientTLS = &tls.Config{RootCAs: pki.Pool(), ServerName: "127.0.0.1"}
			}
			s := newTestServer(t, cfg, Options{Targets: &fakeSource{ready: true}})
			go func() { _ = s.Run() }()
			if got := rawGet(t, s.Addr().String(), tc.prefix, clientTLS); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
}

// The connection's remote address is the client's, from the header.
func TestListenWithProxyProtocolGivesClientAddress(t *testing.T) {
	pl, err := Listen("tcp", "127.0.0.1:0", 0, true, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		conn, err := net.Dial("tcp", pl.Addr().String())
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = conn.Write([]byte("PROXY TCP4 192.0.2.10 127.0.0.1 40000 80\r\nx"))
		_, _ = conn.Read(make([]byte, 1))
	}()
	conn, err := pl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if got := conn.RemoteAddr().String(); got != "192.0.2.10:40000" {
		t.Errorf("remote address %s, want the client's 192.0.2.10:40000", got)
	}
}
