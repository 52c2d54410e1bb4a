package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A binary built with -tags no_kubernetes_sd runs the README's demo exactly
// as the default build does, and refuses a Kubernetes job at start with the
// hint, after -check-syntax accepted it.
func TestBuildWithoutKubernetesSD(t *testing.T) {
	dir := t.TempDir()
	slim := filepath.Join(dir, "promtail-osquery-slim")
	if out, err := exec.Command("go", "build", "-tags", "no_kubernetes_sd", "-o", slim, ".").CombinedOutput(); err != nil {
		t.Fatalf("building with -tags no_kubernetes_sd: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	demo := func(bin string) string {
		sample, err := os.Open("../../configs/sample/osqueryd.results.log")
		if err != nil {
			t.Fatal(err)
		}
		defer sample.Close()
		cmd := exec.CommandContext(ctx, bin, "-stdin", "-dry-run", "-config.file=../../configs/demo.yaml")
		cmd.Stdin, cmd.Env = sample, append(os.Environ(), "TZ=UTC")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		return string(out)
	}
	got, want := demo(slim), demo(binary)
	if got != want || !strings.Contains(got, `host_uuid="`) {
		t.Fatalf("the demo differs from the default build's:\n%.2000s\nwant:\n%.2000s", got, want)
	}

	cfg := writeConfig(t, dir, `
server: {http_listen_address: 127.0.0.1, http_listen_port: 0, grpc_listen_port: 0}
positions: {filename: `+dir+`/positions.yaml}
clients: [{url: http://127.0.0.1:9/loki/api/v1/push}]
scrape_configs:
- job_name: pods
  kubernetes_sd_configs: [{role: pod}]
`)
	if out, err := exec.CommandContext(ctx, slim, "-check-syntax", "-config.file="+cfg).CombinedOutput(); err != nil {
		t.Fatalf("-check-syntax refused the Kubernetes job: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, slim, "-config.file="+cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "kubernetes_sd_configs needs a binary built without -tags no_kubernetes_sd") {
		t.Fatalf("the agent started a Kubernetes job or said why not unclearly: %v\n%s", err, out)
	}
}
