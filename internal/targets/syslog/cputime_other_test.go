//go:build !unix

package syslog

// cpuTime is not measured here; msgs/cpu-s is then not reported.
func cpuTime() int64 { return 0 }
