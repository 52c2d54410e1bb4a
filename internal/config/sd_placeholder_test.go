package config

import (
	"strings"
	"testing"
)

// A mechanism this build cannot run still prints its body (for /config and
// -print-config-stderr), but never its credentials.
func TestPlaceholderMasksCredentials(t *testing.T) {
	cfg := mustParse(t, `
clients: [{url: http://a/loki/api/v1/push}]
scrape_configs:
- job_name: agent
  consulagent_sd_configs:
  - server: localhost:8500
    token: pw-token
    basic_auth: {username: u, password: pw-basic, password_file: /etc/pw}
    authorization: {credentials: pw-auth, credentials_file: /etc/cred}
    oauth2: {client_id: id, client_secret: pw-oauth, token_url: http://t/token}
    tls_config: {cert: c, key: pw-tls, key_file: /etc/key}
    services: [a, b]
    application_credential_id: app-id
`)
	out := cfg.String()
	if strings.Contains(out, "pw-") {
		t.Errorf("a credential is printed:\n%s", out)
	}
	for _, want := range []string{"server: localhost:8500", "username: u", "password_file: /etc/pw", "credentials_file: /etc/cred",
		"client_id: id", "token_url: http://t/token", "key_file: /etc/key", "cert: c", "- a", "application_credential_id: app-id"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, secretMask); n != 5 {
		t.Errorf("%d masked values, want 5:\n%s", n, out)
	}
}
