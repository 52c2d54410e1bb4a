//go:build !no_kubernetes_sd

package file

import (
	"testing"

	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/kubernetes"
)

func TestPodDiscoveryOnThisNode(t *testing.T) {
	pod := &kubernetes.SDConfig{Role: kubernetes.RolePod}
	podSel := &kubernetes.SDConfig{Role: kubernetes.RolePod, Selectors: []kubernetes.SelectorConfig{
		{Role: kubernetes.RolePod, Label: "app=x"},
		{Role: kubernetes.RolePod, Field: "status.phase=Running"},
	}}
	node := &kubernetes.SDConfig{Role: kubernetes.RoleNode}
	out := adaptSDConfigs(discovery.Configs{pod, podSel, node}, "n1")

	if sel := out[0].(*kubernetes.SDConfig).Selectors; len(sel) != 1 || sel[0].Field != "spec.nodeName=n1" {
		t.Fatalf("pod selectors = %+v", sel)
	}
	sel := out[1].(*kubernetes.SDConfig).Selectors
	if sel[0].Field != "spec.nodeName=n1" || sel[1].Field != "status.phase=Running,spec.nodeName=n1" {
		t.Fatalf("pod selectors = %+v", sel)
	}
	if podSel.Selectors[0].Field != "" || len(pod.Selectors) != 0 {
		t.Fatal("the caller's kubernetes config was changed")
	}
	if out[2] != node {
		t.Fatal("a node role config was changed")
	}
}
