//go:build !no_kubernetes_sd

package config

// kubernetesSDLinked: this build runs kubernetes_sd_configs.
const kubernetesSDLinked = true
