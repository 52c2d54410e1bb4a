package server

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"
)

// rawGet sends a GET for /ready on a new connection, after prefix, and
// returns the response status.
func rawGet(t *testing.T, addr, prefix string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(prefix + "GET /ready HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")); err != nil {
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
	const v1Header = "PROXY TCP4 192.0.2.10 127.0.0.1 40000 80\r\n"
	v2Header := string([]byte{
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, // signature
		0x21, 0x11, 0x00, 0x0c, // v2 PROXY, TCP over IPv4, 12 address bytes
		192, 0, 2, 10, 127, 0, 0, 1, 0x9c, 0x40, 0x00, 0x50,
	})
	for _, tc := range []struct {
		name    string
		enabled bool
		prefix  string
		want    int
	}{
		{"v1 header", true, v1Header, http.StatusOK},
		{"v2 header", true, v2Header, http.StatusOK},
		{"no header", true, "", http.StatusOK},
		{"header while disabled", false, v1Header, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.ProxyProtocolEnabled = tc.enabled
			s := newTestServer(t, cfg, Options{Targets: &fakeSource{ready: true}})
			go func() { _ = s.Run() }()
			if got := rawGet(t, s.Addr().String(), tc.prefix); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
}
