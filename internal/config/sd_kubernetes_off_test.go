//go:build no_kubernetes_sd

package config

import (
	"strings"
	"testing"
)

// kubernetesSDLinked: this build refuses kubernetes_sd_configs at start.
const kubernetesSDLinked = false

func TestKubernetesSDLeftOut(t *testing.T) {
	cfg := DefaultConfig()
	yaml := "clients: [{url: http://127.0.0.1/loki/api/v1/push}]\nscrape_configs:\n- job_name: pods\n  kubernetes_sd_configs: [{role: pod}]\n"
	if err := Parse(cfg, []byte(yaml), false); err != nil {
		t.Fatalf("the key must be recognised: %v", err)
	}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "kubernetes_sd_configs needs a binary built without -tags no_kubernetes_sd") {
		t.Fatalf("Validate() = %v, want the build tag hint", err)
	}
}
