package syslog

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/testpki"
)

// pki is a CA with a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in a temporary directory.
type pki struct {
	dir                           string
	caFile, certFile, keyFile     string
	clientCertFile, clientKeyFile string
	pool                          *x509.CertPool
	client                        tls.Certificate
	caPEM, certPEM, keyPEM        string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca := testpki.NewCA(t, "test CA")
	server := ca.Issue(t, "syslog server", x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	client := ca.Issue(t, "syslog client", x509.ExtKeyUsageClientAuth)
	dir := t.TempDir()
	return &pki{
		dir:            dir,
		caFile:         testpki.WriteFile(t, dir, "ca.pem", ca.PEM),
		certFile:       testpki.WriteFile(t, dir, "server.pem", server.CertPEM),
		keyFile:        testpki.WriteFile(t, dir, "server-key.pem", server.KeyPEM),
		clientCertFile: testpki.WriteFile(t, dir, "client.pem", client.CertPEM),
		clientKeyFile:  testpki.WriteFile(t, dir, "client-key.pem", client.KeyPEM),
		pool:           ca.Pool(),
		client:         client.TLS,
		caPEM:          string(ca.PEM),
		certPEM:        string(server.CertPEM),
		keyPEM:         string(server.KeyPEM),
	}
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	serverOnly := promconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile}
	clientAuth := promconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile, CAFile: p.caFile}
	inline := promconfig.TLSConfig{Cert: p.certPEM, Key: promconfig.Secret(p.keyPEM), CA: p.caPEM}

	tests := []struct {
		name       string
		server     promconfig.TLSConfig
		clientCert bool
		delivered  bool
	}{
		{"server certificate only", serverOnly, false, true},
		{"client certificate required and given", clientAuth, true, true},
		{"client certificate required and missing", clientAuth, false, false},
		{"inline PEM, client certificate given", inline, true, true},
		{"inline PEM, client certificate missing", inline, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, c, m := startTarget(t, config.SyslogConfig{Labels: model.LabelSet{"job": "syslog"}, TLSConfig: tt.server}, exposeInternal)
			clientCfg := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"}
			if tt.clientCert {
				clientCfg.Certificates = []tls.Certificate{p.client}
			}
			conn, err := tls.Dial("tcp", tg.Addr().String(), clientCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// With TLS 1.3 a refused client certificate shows on the client
			// only when it reads, so the write may succeed either way.
			_, _ = conn.Write([]byte(octet(msgMinimal)))
			if !tt.delivered {
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
					t.Fatalf("connection without a client certificate not refused: %v", err)
				}
				tg.Stop()
				checkEntries(t, c.All(), nil)
				if got := readCounts(m); got != (counts{}) {
					t.Errorf("counters %+v after a refused handshake", got)
				}
				return
			}
			checkEntries(t, c.Wait(t, 1), []wantEntry{{line: "second", labels: minimalLabels}})
		})
	}
}

// A client speaking plain syslog to a TLS listener fails its handshake and
// nothing else happens.
func TestTLSListenerRefusesPlainText(t *testing.T) {
	p := newPKI(t)
	tg, c, m := startTarget(t, config.SyslogConfig{TLSConfig: promconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile}}, nil)
	conn, err := net.Dial("tcp", tg.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(octet(msgMinimal))); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			if isTimeout(err) {
				t.Fatal("plain-text connection not closed")
			}
			break
		}
	}
	tg.Stop()
	checkEntries(t, c.All(), nil)
	if got := readCounts(m); got != (counts{}) {
		t.Errorf("counters %+v", got)
	}
}

func TestServerTLSConfigErrors(t *testing.T) {
	p := newPKI(t)
	missing := filepath.Join(p.dir, "missing.pem")
	notPEM := testpki.WriteFile(t, p.dir, "not.pem", []byte("not a certificate"))
	tests := []struct {
		name string
		cfg  promconfig.TLSConfig
		want string
	}{
		{"key without certificate", promconfig.TLSConfig{KeyFile: p.keyFile}, "tls_config: a certificate"},
		{"CA alone", promconfig.TLSConfig{CAFile: p.caFile}, "tls_config: a certificate"},
		{"missing certificate file", promconfig.TLSConfig{CertFile: missing, KeyFile: p.keyFile}, "tls_config.cert_file"},
		{"missing key file", promconfig.TLSConfig{CertFile: p.certFile, KeyFile: missing}, "tls_config.key_file"},
		{"missing CA file", promconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile, CAFile: missing}, "tls_config.ca_file"},
		{"certificate is not PEM", promconfig.TLSConfig{CertFile: notPEM, KeyFile: p.keyFile}, "loading the server certificate"},
		{"key does not match", promconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.clientKeyFile}, "loading the server certificate"},
		{"CA is not PEM", promconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile, CAFile: notPEM}, "holds no PEM certificate"},
		{"secret manager refs", promconfig.TLSConfig{CertRef: "x"}, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := serverTLSConfig(&tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, %v; want an error with %q", cfg, err, tt.want)
			}
		})
	}
	if cfg, err := serverTLSConfig(&promconfig.TLSConfig{}); cfg != nil || err != nil {
		t.Errorf("empty tls_config: got %v, %v; want no TLS", cfg, err)
	}
	cfg, err := serverTLSConfig(&promconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile,
		MinVersion: promconfig.TLSVersion(tls.VersionTLS13)})
	if err != nil || cfg.MinVersion != tls.VersionTLS13 || cfg.ClientAuth != tls.NoClientCert {
		t.Errorf("min_version: got %+v, %v", cfg, err)
	}
}
