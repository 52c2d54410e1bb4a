package lokipush

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	promconfig "github.com/prometheus/common/config"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/testpki"
)

// A push server with http_tls_config serves HTTPS only, and with a client
// CA only to clients holding a certificate that CA signed; the pair and the
// CA may come from files or inline.
func TestPushOverTLS(t *testing.T) {
	ca := testpki.NewCA(t, "push server CA")
	server := ca.Issue(t, "push server", x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	clientCA := testpki.NewCA(t, "push client CA")
	client := clientCA.Issue(t, "pusher", x509.ExtKeyUsageClientAuth)
	dir := t.TempDir()
	files := config.ServerTLSConfig{
		CertFile:       testpki.WriteFile(t, dir, "server.pem", server.CertPEM),
		KeyFile:        testpki.WriteFile(t, dir, "server.key", server.KeyPEM),
		ClientAuthType: "RequireAndVerifyClientCert",
		ClientCAFile:   testpki.WriteFile(t, dir, "client-ca.pem", clientCA.PEM),
	}
	inline := config.ServerTLSConfig{
		Cert:           string(server.CertPEM),
		Key:            promconfig.Secret(server.KeyPEM),
		ClientAuthType: "RequireAndVerifyClientCert",
		ClientCA:       string(clientCA.PEM),
	}

	for name, tc := range map[string]config.ServerTLSConfig{"files": files, "inline PEM": inline} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Server.HTTPTLSConfig = tc
			cfg.Server.TLSMinVersion = "VersionTLS12"
			h := start(t, cfg, nil)
			url := "https://" + h.target.Addr().String() + PushPath
			body := protoBody(t, push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Line: "over tls"}}})

			var proto int
			send := func(certs ...tls.Certificate) (int, error) {
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: certs}, ForceAttemptHTTP2: true}
				defer tr.CloseIdleConnections()
				resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Post(url, "application/x-protobuf", bytes.NewReader(body))
				if err != nil {
					return 0, err
				}
				resp.Body.Close()
				proto = resp.ProtoMajor
				return resp.StatusCode, nil
			}
			if status, err := send(client.TLS); err != nil || status != http.StatusNoContent {
				t.Fatalf("push with a client certificate: status %d, %v; want 204", status, err)
			}
			if proto != 2 {
				t.Errorf("push answered over HTTP/%d, want HTTP/2 offered as on the main server", proto)
			}
			if got := h.got.Lines(); !slices.Equal(got, []string{"over tls"}) {
				t.Fatalf("entries %q, want the one pushed", got)
			}
			if status, err := send(); err == nil {
				t.Errorf("push without a client certificate got status %d, want a failed handshake", status)
			}
			if status, _ := post(t, "http://"+h.target.Addr().String()+PushPath, body, nil); status != http.StatusBadRequest {
				t.Errorf("plain HTTP to the TLS port: status %d, want 400", status)
			}
			if got := h.got.Count(); got != 1 {
				t.Errorf("%d entries after the refused pushes, want 1", got)
			}
		})
	}
}

// A broken http_tls_config stops the job at start, naming the job and the key.
func TestPushTLSConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		tls  config.ServerTLSConfig
		want string
	}{
		"missing files":          {config.ServerTLSConfig{CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"}, "cert_file"},
		"client CA without auth": {config.ServerTLSConfig{Cert: "x", Key: "y", ClientCA: "z"}, "client_auth_type"},
		"not PEM":                {config.ServerTLSConfig{Cert: "x", Key: "y"}, "loading the certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Server.HTTPTLSConfig = tc.tls
			target, err := New(nil, NewMetrics(nil), testJob, cfg, nil, &collector{})
			if err == nil {
				target.Stop()
				t.Fatal("New succeeded, want an error")
			}
			for _, want := range []string{`job "push"`, "loki_push_api.server", "http_tls_config", tc.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// With proxy_protocol_enabled, a push behind a load balancer that sends a
// PROXY header is taken like any other.
func TestPushBehindProxyProtocol(t *testing.T) {
	cfg := testConfig()
	cfg.Server.ProxyProtocolEnabled = true
	h := start(t, cfg, nil)
	body := protoBody(t, push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Line: "via balancer"}}})

	conn, err := net.DialTimeout("tcp", h.target.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	req, err := http.NewRequest(http.MethodPost, "http://"+h.target.Addr().String()+PushPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if _, err := conn.Write([]byte("PROXY TCP4 192.0.2.10 127.0.0.1 40000 3500\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
	if got := h.got.Lines(); !slices.Equal(got, []string{"via balancer"}) {
		t.Errorf("entries %q, want the one pushed", got)
	}
}
