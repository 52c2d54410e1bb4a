//go:build !cloud_sd

package config

import "github.com/prometheus/prometheus/discovery"

// Without -tags cloud_sd the cloud mechanisms are recognised, so configs that
// use them load and pass -check-syntax, and the job fails at start saying how
// to get a binary that runs them.
func init() {
	discovery.RegisterConfig(&unsupportedSD[cloudSD[ec2]]{})
	discovery.RegisterConfig(&unsupportedSD[cloudSD[azure]]{})
	discovery.RegisterConfig(&unsupportedSD[cloudSD[digitalocean]]{})
	discovery.RegisterConfig(&unsupportedSD[cloudSD[gce]]{})
	discovery.RegisterConfig(&unsupportedSD[cloudSD[marathon]]{})
	discovery.RegisterConfig(&unsupportedSD[cloudSD[openstack]]{})
	discovery.RegisterConfig(&unsupportedSD[cloudSD[triton]]{})
	discovery.RegisterConfig(&unsupportedSD[cloudSD[serverset]]{})
	discovery.RegisterConfig(&unsupportedSD[cloudSD[nerve]]{})
}

// cloudSD names a mechanism that needs the cloud_sd build tag.
type cloudSD[N sdName] struct{}

func (cloudSD[N]) name() string {
	var n N
	return n.name()
}

func (cloudSD[N]) hint() string {
	return "needs a binary built with -tags cloud_sd (go build -tags cloud_sd ./cmd/promtail-osquery)"
}

type (
	ec2          struct{}
	azure        struct{}
	digitalocean struct{}
	gce          struct{}
	marathon     struct{}
	openstack    struct{}
	triton       struct{}
	serverset    struct{}
	nerve        struct{}
)

func (ec2) name() string          { return "ec2" }
func (azure) name() string        { return "azure" }
func (digitalocean) name() string { return "digitalocean" }
func (gce) name() string          { return "gce" }
func (marathon) name() string     { return "marathon" }
func (openstack) name() string    { return "openstack" }
func (triton) name() string       { return "triton" }
func (serverset) name() string    { return "serverset" }
func (nerve) name() string        { return "nerve" }
