package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	clientCert                tls.Certificate
	dir                       string
	ca                        *x509.Certificate
	caKey                     *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &testPKI{dir: dir, ca: ca, caKey: caKey, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = filepath.Join(dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	p.certFile, p.keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	p.issue(t, 2, x509.ExtKeyUsageServerAuth, p.certFile, p.keyFile)
	clientCert, clientKey := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	p.issue(t, 3, x509.ExtKeyUsageClientAuth, clientCert, clientKey)
	p.clientCert, err = tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *testPKI) issue(t *testing.T, serial int64, usage x509.ExtKeyUsage, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
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
			c.HTTPTLSConfig = TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientAuthType: "RequireAndVerifyClientCert", ClientCAFile: pki.caFile}
			c.TLSMinVersion = "VersionTLS13"
			c.TLSCipherSuites = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
		}},
		{name: "bad min version", cfg: func(c *Config) { c.TLSMinVersion = "TLS13" }, wantErr: `invalid tls_min_version "TLS13"`},
		{name: "bad cipher", cfg: func(c *Config) { c.TLSCipherSuites = "TLS_FAKE" }, wantErr: `unknown cipher suite "TLS_FAKE"`},
		{name: "cert without key", cfg: func(c *Config) { c.HTTPTLSConfig.CertFile = pki.certFile },
			wantErr: "cert_file and key_file must be set together"},
		{name: "client CA without key pair", cfg: func(c *Config) { c.HTTPTLSConfig.ClientCAFile = pki.caFile },
			wantErr: "need cert_file and key_file"},
		{name: "bad client auth", cfg: func(c *Config) {
			c.HTTPTLSConfig = TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientAuthType: "Always"}
		}, wantErr: `invalid client_auth_type "Always"`},
		{name: "CA without policy", cfg: func(c *Config) {
			c.HTTPTLSConfig = TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientCAFile: pki.caFile}
		}, wantErr: "client_ca_file is set but client_auth_type"},
		{name: "verify without CA", cfg: func(c *Config) {
			c.HTTPTLSConfig = TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientAuthType: "VerifyClientCertIfGiven"}
		}, wantErr: "needs client_ca_file"},
		{name: "missing cert file", cfg: func(c *Config) {
			c.HTTPTLSConfig = TLSConfig{CertFile: filepath.Join(pki.dir, "absent.pem"), KeyFile: pki.keyFile}
		}, wantErr: "cert_file"},
		{name: "mismatched pair", cfg: func(c *Config) {
			c.HTTPTLSConfig = TLSConfig{CertFile: pki.certFile, KeyFile: pki.certFile}
		}, wantErr: "loading cert_file"},
		{name: "CA file without PEM", cfg: func(c *Config) {
			c.HTTPTLSConfig = TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientAuthType: "RequireAnyClientCert", ClientCAFile: notPEM}
		}, wantErr: "no PEM certificate found"},
		{name: "missing CA file", cfg: func(c *Config) {
			c.HTTPTLSConfig = TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientAuthType: "RequireClientCert", ClientCAFile: filepath.Join(pki.dir, "absent.pem")}
		}, wantErr: "reading client_ca_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.cfg(&cfg)
			_, err := buildTLSConfig(cfg, discardLogger())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestHTTPSWithClientCertificates(t *testing.T) {
	pki := newTestPKI(t)
	cfg := testConfig()
	cfg.HTTPTLSConfig = TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile,
		ClientAuthType: "RequireAndVerifyClientCert", ClientCAFile: pki.caFile}
	s := newTestServer(t, cfg, Options{Targets: &fakeSource{ready: true}})
	go func() { _ = s.Run() }()
	url := "https://" + s.Addr().String() + "/ready"

	get := func(certs []tls.Certificate) (*http.Response, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool, Certificates: certs}}
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
}

func TestCertificateReloadedWhenFilesChange(t *testing.T) {
	pki := newTestPKI(t)
	cfg := testConfig()
	cfg.HTTPTLSConfig = TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile}
	s := newTestServer(t, cfg, Options{})
	go func() { _ = s.Run() }()

	serial := func() int64 {
		t.Helper()
		conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pki.pool})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 2 {
		t.Fatalf("serial %d, want 2", got)
	}
	// Rotate: new pair with serial 42. Push the mtime forward so the change
	// is seen even on file systems with coarse timestamps.
	pki.issue(t, 42, x509.ExtKeyUsageServerAuth, pki.certFile, pki.keyFile)
	later := time.Now().Add(2 * time.Second)
	for _, f := range []string{pki.certFile, pki.keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := serial(); got != 42 {
		t.Fatalf("serial %d after rotation, want 42", got)
	}
	// A broken pair keeps the last good one.
	if err := os.WriteFile(pki.keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got != 42 {
		t.Fatalf("serial %d after a broken rotation, want 42", got)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
