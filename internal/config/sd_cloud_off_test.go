//go:build !cloud_sd

package config

import (
	"strings"
	"testing"
)

func TestCloudSDWithoutBuildTag(t *testing.T) {
	for _, key := range []string{"ec2", "azure", "digitalocean", "gce", "marathon", "openstack", "triton", "serverset", "nerve"} {
		t.Run(key, func(t *testing.T) {
			cfg := DefaultConfig()
			yaml := "clients: [{url: http://127.0.0.1/loki/api/v1/push}]\nscrape_configs:\n- job_name: j\n  " + key + "_sd_configs: [{some: setting}]\n"
			if err := Parse(cfg, []byte(yaml), false); err != nil {
				t.Fatalf("the key must be recognised: %v", err)
			}
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), key+"_sd_configs needs a binary built with -tags cloud_sd") {
				t.Fatalf("Validate() = %v, want the build tag hint", err)
			}
		})
	}
}
