package syslog

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

// pki is a CA with a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in a temporary directory.
type pki struct {
	dir                           string
	caFile, certFile, keyFile     string
	clientCertFile, clientKeyFile string
	pool                          *x509.CertPool
	client                        tls.Certificate
	certPEM, keyPEM               string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)

	issue := func(serial int64, usage x509.ExtKeyUsage, name string) (certPEM, keyPEM []byte) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	certPEM, keyPEM := issue(2, x509.ExtKeyUsageServerAuth, "syslog server")
	p.certPEM, p.keyPEM = string(certPEM), string(keyPEM)
	p.certFile = p.writePEM(t, "server.pem", certPEM)
	p.keyFile = p.writePEM(t, "server-key.pem", keyPEM)
	clientCertPEM, clientKeyPEM := issue(3, x509.ExtKeyUsageClientAuth, "syslog client")
	p.clientCertFile = p.writePEM(t, "client.pem", clientCertPEM)
	p.clientKeyFile = p.writePEM(t, "client-key.pem", clientKeyPEM)
	if p.client, err = tls.X509KeyPair(clientCertPEM, clientKeyPEM); err != nil {
		t.Fatal(err)
	}
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	return p.writePEM(t, name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func (p *pki) writePEM(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	serverOnly := promconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile}
	clientAuth := promconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile, CAFile: p.caFile}
	inline := promconfig.TLSConfig{Cert: p.certPEM, Key: promconfig.Secret(p.keyPEM), CA: p.pemOf(t, p.caFile)}

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

func (p *pki) pemOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
	notPEM := p.writePEM(t, "not.pem", []byte("not a certificate"))
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
