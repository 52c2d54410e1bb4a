package syslog

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	promconfig "github.com/prometheus/common/config"
)

// serverTLSConfig builds the listener's TLS settings from tls_config, or
// returns nil when tls_config names no certificate, key or CA. As in
// Promtail, naming any of them turns TLS on, a certificate and a key are
// then required, and a CA makes every client present a certificate it
// signed. Inline cert, key and ca work as well as the _file keys (Promtail
// reads only the files); min_version and max_version are honoured.
func serverTLSConfig(c *promconfig.TLSConfig) (*tls.Config, error) {
	if c.CertRef != "" || c.KeyRef != "" || c.CARef != "" {
		return nil, errors.New("tls_config: cert_ref, key_ref and ca_ref are not supported")
	}
	if c.CertFile == "" && c.Cert == "" && c.KeyFile == "" && string(c.Key) == "" && c.CAFile == "" && c.CA == "" {
		return nil, nil
	}
	certPEM, err := inlineOrFile(c.Cert, c.CertFile, "cert")
	if err != nil {
		return nil, err
	}
	keyPEM, err := inlineOrFile(string(c.Key), c.KeyFile, "key")
	if err != nil {
		return nil, err
	}
	if certPEM == nil || keyPEM == nil {
		return nil, errors.New("tls_config: a certificate (cert_file) and a key (key_file) are required for TLS")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls_config: loading the server certificate and key: %w", err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   uint16(c.MinVersion),
		MaxVersion:   uint16(c.MaxVersion),
	}
	caPEM, err := inlineOrFile(c.CA, c.CAFile, "ca")
	if err != nil {
		return nil, err
	}
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("tls_config: the client CA holds no PEM certificate")
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// inlineOrFile returns the inline PEM text, or the content of the file, or
// nil when neither is set.
func inlineOrFile(inline, file, key string) ([]byte, error) {
	if inline != "" {
		return []byte(inline), nil
	}
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls_config.%s_file: %w", key, err)
	}
	return b, nil
}
