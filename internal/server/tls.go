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

	"github.com/promtail-osquery/promtail-osquery/internal/config"
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

// NewTLSConfig is the server side of an http_tls_config block with
// tls_min_version and tls_cipher_suites, for every HTTP server the agent runs.
// It returns nil when the block asks for no TLS. The version and cipher keys
// are checked even then, as dskit does, so a typo is reported rather than
// ignored. The key pair and the client CAs come from files (cert_file,
// key_file, client_ca_file) or inline PEM (cert, key, client_ca), one or the
// other for each; a pair from files is re-read when the files change.
func NewTLSConfig(t config.ServerTLSConfig, minVersion, cipherSuites string, log *slog.Logger) (*tls.Config, error) {
	version, err := parseTLSVersion(minVersion)
	if err != nil {
		return nil, err
	}
	ciphers, err := parseCipherSuites(cipherSuites)
	if err != nil {
		return nil, err
	}
	clientAuth, ok := clientAuthTypes[t.ClientAuthType]
	if !ok {
		return nil, fmt.Errorf("http_tls_config: invalid client_auth_type %q (want NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)", t.ClientAuthType)
	}
	for _, both := range []struct{ inline, file, inlineKey, fileKey string }{
		{t.Cert, t.CertFile, "cert", "cert_file"},
		{string(t.Key), t.KeyFile, "key", "key_file"},
		{t.ClientCA, t.ClientCAFile, "client_ca", "client_ca_file"},
	} {
		if both.inline != "" && both.file != "" {
			return nil, fmt.Errorf("http_tls_config: %s and %s are both set; keep one", both.inlineKey, both.fileKey)
		}
	}
	hasCert, hasKey := t.Cert != "" || t.CertFile != "", t.Key != "" || t.KeyFile != ""
	hasClientCA := t.ClientCA != "" || t.ClientCAFile != ""
	// dskit silently serves plain HTTP when the key pair is incomplete, even
	// with client certificates configured; whoever wrote these keys wanted
	// HTTPS, so say so instead.
	if !hasCert && !hasKey {
		if hasClientCA || clientAuth != tls.NoClientCert {
			return nil, errors.New("http_tls_config: client_auth_type and client_ca_file (or client_ca) need a certificate and its key: cert_file and key_file, or cert and key")
		}
		return nil, nil
	}
	if !hasCert || !hasKey {
		return nil, errors.New("http_tls_config: a certificate and its key must be set together: cert_file and key_file, or cert and key")
	}
	if hasClientCA && clientAuth == tls.NoClientCert {
		return nil, errors.New("http_tls_config: client_ca_file (or client_ca) is set but client_auth_type does not ask for client certificates")
	}
	if !hasClientCA && (clientAuth == tls.VerifyClientCertIfGiven || clientAuth == tls.RequireAndVerifyClientCert) {
		return nil, fmt.Errorf("http_tls_config: client_auth_type %s needs client_ca_file (or client_ca)", t.ClientAuthType)
	}
	tc := &tls.Config{MinVersion: version, CipherSuites: ciphers, ClientAuth: clientAuth}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		certs := &certReloader{certFile: t.CertFile, keyFile: t.KeyFile, log: log}
		if err := certs.load(); err != nil {
			return nil, fmt.Errorf("http_tls_config: %w", err)
		}
		tc.GetCertificate = certs.getCertificate
	default:
		certPEM, err := inlineOrFile(t.Cert, t.CertFile, "cert")
		if err != nil {
			return nil, err
		}
		keyPEM, err := inlineOrFile(string(t.Key), t.KeyFile, "key")
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("http_tls_config: loading the certificate and its key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	if hasClientCA {
		pem, err := inlineOrFile(t.ClientCA, t.ClientCAFile, "client_ca")
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			if t.ClientCAFile != "" {
				return nil, fmt.Errorf("http_tls_config: no PEM certificate found in client_ca_file %s", t.ClientCAFile)
			}
			return nil, errors.New("http_tls_config: no PEM certificate found in client_ca")
		}
		tc.ClientCAs = pool
	}
	return tc, nil
}

// inlineOrFile returns the PEM given inline under key, or read from file
// (key with _file appended).
func inlineOrFile(inline, file, key string) ([]byte, error) {
	if inline != "" {
		return []byte(inline), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("http_tls_config: reading %s_file: %w", key, err)
	}
	return b, nil
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
