package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/testpki"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, the CA and the server's pair written to files.
type testPKI struct {
	*testpki.CA
	dir                       string
	caFile, certFile, keyFile string
	certPEM, keyPEM           string // the server pair's files as written
	clientCert                tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{CA: testpki.NewCA(t, "test CA"), dir: t.TempDir()}
	p.caFile = testpki.WriteFile(t, p.dir, "ca.pem", p.PEM)
	p.issueServer(t)
	p.clientCert = p.Issue(t, "client", x509.ExtKeyUsageClientAuth).TLS
	return p
}

// issueServer writes a new server certificate and key over the old ones
// and returns the certificate.
func (p *testPKI) issueServer(t *testing.T) *x509.Certificate {
	t.Helper()
	leaf := p.Issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	p.certFile = testpki.WriteFile(t, p.dir, "server.pem", leaf.CertPEM)
	p.keyFile = testpki.WriteFile(t, p.dir, "server-key.pem", leaf.KeyPEM)
	p.certPEM, p.keyPEM = string(leaf.CertPEM), string(leaf.KeyPEM)
	return leaf.Cert
}

func TestBuildTLSConfigErrors(t *testing.T) {
	pki := newTestPKI(t)
	notPEM := filepath.Join(pki.dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     func(*Config)
		wantErr string // empty: no error
	}{
		{name: "no TLS", cfg: func(*Config) {}},
		{name: "NoClientCert without TLS", cfg: func(c *Config) { c.HTTPTLSConfig.ClientAuthType = "NoClientCert" }},
		{name: "valid", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientAuthType: "RequireAndVerifyClientCert", ClientCAFile: pki.caFile}
			c.TLSMinVersion = "VersionTLS13"
			c.TLSCipherSuites = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
		}},
		{name: "bad min version", cfg: func(c *Config) { c.TLSMinVersion = "TLS13" }, wantErr: `invalid tls_min_version "TLS13"`},
		{name: "bad cipher", cfg: func(c *Config) { c.TLSCipherSuites = "TLS_FAKE" }, wantErr: `unknown cipher suite "TLS_FAKE"`},
		{name: "cert without key", cfg: func(c *Config) { c.HTTPTLSConfig.CertFile = pki.certFile },
			wantErr: "a certificate and its key must be set together"},
		{name: "client CA without key pair", cfg: func(c *Config) { c.HTTPTLSConfig.ClientCAFile = pki.caFile },
			wantErr: "need a certificate and its key"},
		{name: "bad client auth", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientAuthType: "Always"}
		}, wantErr: `invalid client_auth_type "Always"`},
		{name: "CA without policy", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientCAFile: pki.caFile}
		}, wantErr: "is set but client_auth_type does not ask"},
		{name: "verify without CA", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientAuthType: "VerifyClientCertIfGiven"}
		}, wantErr: "needs client_ca_file"},
		{name: "missing cert file", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{CertFile: filepath.Join(pki.dir, "absent.pem"), KeyFile: pki.keyFile}
		}, wantErr: "cert_file"},
		{name: "mismatched pair", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.certFile}
		}, wantErr: "loading cert_file"},
		{name: "CA file without PEM", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientAuthType: "RequireAnyClientCert", ClientCAFile: notPEM}
		}, wantErr: "no PEM certificate found in client_ca_file " + notPEM},
		{name: "valid, inline PEM", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{Cert: pki.certPEM, Key: promconfig.Secret(pki.keyPEM),
				ClientAuthType: "RequireAndVerifyClientCert", ClientCA: string(pki.PEM)}
		}},
		{name: "inline certificate, key from a file", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{Cert: pki.certPEM, KeyFile: pki.keyFile}
		}},
		{name: "cert and cert_file", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{Cert: pki.certPEM, CertFile: pki.certFile, KeyFile: pki.keyFile}
		}, wantErr: "cert and cert_file are both set"},
		{name: "key and key_file", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, Key: promconfig.Secret(pki.keyPEM)}
		}, wantErr: "key and key_file are both set"},
		{name: "client_ca and client_ca_file", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile,
				ClientAuthType: "RequireAndVerifyClientCert", ClientCA: string(pki.PEM), ClientCAFile: pki.caFile}
		}, wantErr: "client_ca and client_ca_file are both set"},
		{name: "inline key alone", cfg: func(c *Config) { c.HTTPTLSConfig.Key = promconfig.Secret(pki.keyPEM) },
			wantErr: "a certificate and its key must be set together"},
		{name: "inline client CA without key pair", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{ClientAuthType: "RequireAndVerifyClientCert", ClientCA: string(pki.PEM)}
		}, wantErr: "need a certificate and its key"},
		{name: "inline pair that does not match", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{Cert: pki.certPEM, Key: promconfig.Secret(pki.certPEM)}
		}, wantErr: "loading the certificate and its key"},
		{name: "inline client CA without PEM", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{Cert: pki.certPEM, Key: promconfig.Secret(pki.keyPEM),
				ClientAuthType: "RequireAnyClientCert", ClientCA: "hello"}
		}, wantErr: "no PEM certificate found in client_ca"},
		{name: "missing CA file", cfg: func(c *Config) {
			c.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientAuthType: "RequireClientCert", ClientCAFile: filepath.Join(pki.dir, "absent.pem")}
		}, wantErr: "reading client_ca_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.cfg(&cfg)
			got, err := NewTLSConfig(cfg.HTTPTLSConfig, cfg.TLSMinVersion, cfg.TLSCipherSuites, discardLogger())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			// A key pair, from files or inline, means HTTPS with a certificate
			// to serve; none means plain HTTP.
			wantTLS := tc.wantErr == "" && (cfg.HTTPTLSConfig.CertFile != "" || cfg.HTTPTLSConfig.Cert != "")
			if (got != nil) != wantTLS {
				t.Fatalf("TLS config %v, want one: %v", got, wantTLS)
			}
			if wantTLS && len(got.Certificates) == 0 && got.GetCertificate == nil {
				t.Fatal("TLS config without a certificate")
			}
		})
	}
}

func TestHTTPSWithClientCertificates(t *testing.T) {
	pki := newTestPKI(t)
	for name, tc := range map[string]config.ServerTLSConfig{
		"files": {CertFile: pki.certFile, KeyFile: pki.keyFile,
			ClientAuthType: "RequireAndVerifyClientCert", ClientCAFile: pki.caFile},
		"inline PEM": {Cert: pki.certPEM, Key: promconfig.Secret(pki.keyPEM),
			ClientAuthType: "RequireAndVerifyClientCert", ClientCA: string(pki.PEM)},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.HTTPTLSConfig = tc
			s := newTestServer(t, cfg, Options{Targets: &fakeSource{ready: true}})
			go func() { _ = s.Run() }()
			url := "https://" + s.Addr().String() + "/ready"

			get := func(certs []tls.Certificate) (*http.Response, error) {
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool(), Certificates: certs}}
				defer tr.CloseIdleConnections()
				return (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
			}
			resp, err := get([]tls.Certificate{pki.clientCert})
			if err != nil {
				t.Fatalf("GET with client certificate: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if resp, err := get(nil); err == nil {
				resp.Body.Close()
				t.Fatal("GET without client certificate succeeded")
			}
		})
	}
}

func TestCertificateReloadedWhenFilesChange(t *testing.T) {
	pki := newTestPKI(t)
	certFile := pki.certFile
	cfg := testConfig()
	cfg.HTTPTLSConfig = config.ServerTLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile}
	s := newTestServer(t, cfg, Options{})
	go func() { _ = s.Run() }()

	served := func() *x509.Certificate {
		t.Helper()
		conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pki.Pool()})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	before := served()
	// Rotate: a new pair in the same files. Push the mtime forward so the
	// change is seen even on file systems with coarse timestamps.
	rotated := pki.issueServer(t)
	if pki.certFile != certFile {
		t.Fatalf("rotation wrote %s, not %s", pki.certFile, certFile)
	}
	later := time.Now().Add(2 * time.Second)
	for _, f := range []string{pki.certFile, pki.keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := served(); !got.Equal(rotated) || got.Equal(before) {
		t.Fatalf("serving serial %v after rotation, want %v (was %v)", got.SerialNumber, rotated.SerialNumber, before.SerialNumber)
	}
	// A broken pair keeps the last good one.
	if err := os.WriteFile(pki.keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := served(); !got.Equal(rotated) {
		t.Fatalf("serving serial %v after a broken rotation, want %v", got.SerialNumber, rotated.SerialNumber)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
