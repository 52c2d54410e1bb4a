// Command promtail-osquery is a drop-in replacement for Promtail 3.6 with an
// osquery pipeline stage. Its command line is Promtail's; see the agent package.
//
// A custom binary with more stages is this file with one more import: each
// stage package registers itself with stages.Register from its init.
package main

import (
	"os"

	"github.com/promtail-osquery/promtail-osquery/agent"
	_ "github.com/promtail-osquery/promtail-osquery/stages/osquery"
)

func main() {
	os.Exit(agent.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
