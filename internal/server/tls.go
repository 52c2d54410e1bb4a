package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

var tlsVersions = map[string]uint16{
	"VersionTLS10": tls.VersionTLS10,
	"VersionTLS11": tls.VersionTLS11,
	"VersionTLS12": tls.VersionTLS12,
	"VersionTLS13": tls.VersionTLS13,
}

var clientAuthTypes = map[string]tls.ClientAuthType{
	"":                           tls.NoClientCert,
	"NoClientCert":               tls.NoClientCert,
	"RequestClientCert":          tls.RequestClientCert,
	"RequireAnyClientCert":       tls.RequireAnyClientCert,
	"RequireClientCert":          tls.RequireAnyClientCert,
	"VerifyClientCertIfGiven":    tls.VerifyClientCertIfGiven,
	"RequireAndVerifyClientCert": tls.RequireAndVerifyClientCert,
}

// buildTLSConfig returns nil when TLS is not configured. The version and
// cipher keys are checked even then, as dskit does, so a typo is reported
// rather than ignored.
func buildTLSConfig(cfg Config, log *slog.Logger) (*tls.Config, error) {
	minVersion, err := parseTLSVersion(cfg.TLSMinVersion)
	if err != nil {
		return nil, err
	}
	ciphers, err := parseCipherSuites(cfg.TLSCipherSuites)
	if err != nil {
		return nil, err
	}
	t := cfg.HTTPTLSConfig
	clientAuth, ok := clientAuthTypes[t.ClientAuthType]
	if !ok {
		return nil, fmt.Errorf("http_tls_config: invalid client_auth_type %q (want NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)", t.ClientAuthType)
	}
	// dskit silently serves plain HTTP when the key pair is incomplete, even
	// with client certificates configured; whoever wrote these keys wanted
	// HTTPS, so say so instead.
	if t.CertFile == "" && t.KeyFile == "" {
		if t.ClientCAFile != "" || clientAuth != tls.NoClientCert {
			return nil, errors.New("http_tls_config: client_auth_type and client_ca_file need cert_file and key_file")
		}
		return nil, nil
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return nil, errors.New("http_tls_config: cert_file and key_file must be set together")
	}
	if t.ClientCAFile != "" && clientAuth == tls.NoClientCert {
		return nil, errors.New("http_tls_config: client_ca_file is set but client_auth_type does not ask for client certificates")
	}
	if t.ClientCAFile == "" && (clientAuth == tls.VerifyClientCertIfGiven || clientAuth == tls.RequireAndVerifyClientCert) {
		return nil, fmt.Errorf("http_tls_config: client_auth_type %s needs client_ca_file", t.ClientAuthType)
	}
	certs := &certReloader{certFile: t.CertFile, keyFile: t.KeyFile, log: log}
	if err := certs.load(); err != nil {
		return nil, fmt.Errorf("http_tls_config: %w", err)
	}
	tc := &tls.Config{
		MinVersion:     minVersion,
		CipherSuites:   ciphers,
		ClientAuth:     clientAuth,
		GetCertificate: certs.getCertificate,
	}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("http_tls_config: reading client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http_tls_config: no PEM certificate found in client_ca_file %s", t.ClientCAFile)
		}
		tc.ClientCAs = pool
	}
	return tc, nil
}

func parseTLSVersion(name string) (uint16, error) {
	if name == "" {
		return 0, nil
	}
	v, ok := tlsVersions[name]
	if !ok {
		return 0, fmt.Errorf("invalid tls_min_version %q (want VersionTLS10, VersionTLS11, VersionTLS12 or VersionTLS13)", name)
	}
	return v, nil
}

func parseCipherSuites(list string) ([]uint16, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	known := make(map[string]uint16)
	for _, s := range tls.CipherSuites() {
		known[s.Name] = s.ID
	}
	for _, s := range tls.InsecureCipherSuites() {
		known[s.Name] = s.ID
	}
	var ids []uint16
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		id, ok := known[name]
		if !ok {
			return nil, fmt.Errorf("invalid tls_cipher_suites: unknown cipher suite %q", name)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// certReloader serves the key pair from disk and reloads it when either file
// changes, so certificate rotation (cert-manager, ACME) needs no restart. A
// pair that fails to load (e.g. caught half-written) keeps the previous one.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu                sync.Mutex
	cert              *tls.Certificate
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func (c *certReloader) load() error {
	cs, err := os.Stat(c.certFile)
	if err != nil {
		return fmt.Errorf("cert_file: %w", err)
	}
	ks, err := os.Stat(c.keyFile)
	if err != nil {
		return fmt.Errorf("key_file: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("loading cert_file %s and key_file %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert = &pair
	c.certMod, c.certSize = cs.ModTime(), cs.Size()
	c.keyMod, c.keySize = ks.ModTime(), ks.Size()
	return nil
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, cerr := os.Stat(c.certFile)
	ks, kerr := os.Stat(c.keyFile)
	if cerr != nil || kerr != nil {
		return c.cert, nil
	}
	changed := !cs.ModTime().Equal(c.certMod) || cs.Size() != c.certSize ||
		!ks.ModTime().Equal(c.keyMod) || ks.Size() != c.keySize
	if changed {
		// On failure load changes nothing, so the previous pair is served
		// and the next handshake tries again.
		if err := c.load(); err != nil {
			c.log.Warn("keeping the previous TLS certificate", "err", err)
		}
	}
	return c.cert, nil
}
