//go:build !no_kubernetes_sd

package config

// Kubernetes discovery is in every build but one made with -tags
// no_kubernetes_sd (see sd_kubernetes_off.go).
import _ "github.com/prometheus/prometheus/discovery/kubernetes" // kubernetes_sd_configs
