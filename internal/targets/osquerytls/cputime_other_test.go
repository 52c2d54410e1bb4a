//go:build !unix

package osquerytls

// cpuTime is not measured here: records per CPU-second are then not reported.
func cpuTime() int64 { return 0 }
