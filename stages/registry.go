package stages

import (
	"fmt"
	"sort"
	"sync"
)

// Factory returns a new, empty configuration for one stage type. The pipeline
// builder decodes the YAML body of a pipeline_stages item into it.
type Factory func() Config

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a stage type available under name in pipeline_stages. It is
// meant to be called from init, like Prometheus's discovery.RegisterConfig, and
// panics on an empty or duplicate name because either is a programming error
// that must surface when the binary starts, not when a config happens to use it.
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if name == "" || f == nil {
		panic("stages: Register needs a name and a factory")
	}
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("stages: stage type %q registered twice", name))
	}
	registry[name] = f
}

// Names lists the registered stage types, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookup(name string) (Factory, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	f, ok := registry[name]
	return f, ok
}
