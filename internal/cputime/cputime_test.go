package cputime

import "testing"

func TestProcessGrowsWithWork(t *testing.T) {
	if !Supported {
		t.Skip("no CPU time on this system")
	}
	before := Process()
	x := 0
	for i := range 50_000_000 {
		x ^= i
	}
	if after := Process(); after <= before {
		t.Fatalf("CPU time went from %v to %v over a busy loop (%d)", before, after, x)
	}
}
