//go:build cloud_sd

package config

// The cloud service discovery mechanisms, linked only with -tags cloud_sd: the
// cloud SDKs make the binary half again as large and raise the memory every
// agent uses from its first second (their init functions build large tables),
// while most fleets tail files found by static, file or Kubernetes discovery.
import (
	_ "github.com/prometheus/prometheus/discovery/aws"          // ec2_sd_configs
	_ "github.com/prometheus/prometheus/discovery/azure"        // azure_sd_configs
	_ "github.com/prometheus/prometheus/discovery/digitalocean" // digitalocean_sd_configs
	_ "github.com/prometheus/prometheus/discovery/gce"          // gce_sd_configs
	_ "github.com/prometheus/prometheus/discovery/marathon"     // marathon_sd_configs
	_ "github.com/prometheus/prometheus/discovery/openstack"    // openstack_sd_configs
	_ "github.com/prometheus/prometheus/discovery/triton"       // triton_sd_configs
	_ "github.com/prometheus/prometheus/discovery/zookeeper"    // serverset_sd_configs, nerve_sd_configs
)
