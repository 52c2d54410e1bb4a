package procs

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func TestGovernorObserve(t *testing.T) {
	tests := []struct {
		name  string
		limit int
		cores []float64
		want  []int // Ps after each sample
	}{
		{
			name:  "below one busy P stays at one",
			limit: 4,
			cores: []float64{0.75, 0.85, 0.1, 0.89, 0.5},
			want:  []int{1, 1, 1, 1, 1},
		},
		{
			name:  "three saturated intervals add one",
			limit: 4,
			cores: []float64{0.95, 1.0, 1.02, 1.0},
			want:  []int{1, 1, 2, 2},
		},
		{
			name:  "a calm interval restarts the count",
			limit: 4,
			cores: []float64{1.0, 1.0, 0.6, 1.0, 1.0, 1.0},
			want:  []int{1, 1, 1, 1, 1, 2},
		},
		{
			name:  "keeps adding while every P stays busy, up to the limit",
			limit: 3,
			cores: []float64{1, 1, 1, 2, 2, 2, 3, 3, 3, 3},
			want:  []int{1, 1, 2, 2, 2, 3, 3, 3, 3, 3},
		},
		{
			name:  "two Ps using most of one core stay two",
			limit: 2,
			cores: []float64{1, 1, 1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9},
			want:  []int{1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
		},
		{
			name:  "a load one P carries goes back to one after a burst",
			limit: 2,
			cores: []float64{1, 1, 1, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75},
			want:  []int{1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1},
		},
		{
			name:  "ten quiet intervals take one back",
			limit: 2,
			cores: []float64{1, 1, 1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2},
			want:  []int{1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1},
		},
		{
			name:  "never below one",
			limit: 2,
			cores: []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			want:  []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		},
		{
			name:  "a limit of one holds",
			limit: 1,
			cores: []float64{1, 1, 1, 1, 1},
			want:  []int{1, 1, 1, 1, 1},
		},
		{
			name:  "a limit under one is one",
			limit: 0,
			cores: []float64{1, 1, 1, 1},
			want:  []int{1, 1, 1, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGovernor(tt.limit)
			for i, c := range tt.cores {
				if got := g.Observe(c); got != tt.want[i] {
					t.Fatalf("sample %d (%.2f cores): %d Ps, want %d", i, c, got, tt.want[i])
				}
			}
		})
	}
}

// TestRunAppliesDecisions drives Run with a process that keeps every P it is
// given busy, then goes quiet: Run must start at one, climb to the limit and
// come back down, through Set.
func TestRunAppliesDecisions(t *testing.T) {
	const interval = 5 * time.Millisecond
	var (
		mu    sync.Mutex
		procs int
		sets  []int
		busy  = true
		cpu   time.Duration
		last  = time.Now()
	)
	set := func(n int) {
		mu.Lock()
		defer mu.Unlock()
		procs = n
		sets = append(sets, n)
	}
	// CPU time grows by procs cores per wall second while busy, 0 after.
	cpuNow := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if busy {
			cpu += time.Duration(float64(now.Sub(last)) * float64(procs))
		}
		last = now
		return cpu
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, NewGovernor(3), slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Interval: interval, CPU: cpuNow, Set: set})
	}()
	defer func() { cancel(); <-done }()

	waitFor := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			got := procs
			mu.Unlock()
			if got == want {
				return
			}
			time.Sleep(interval)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("GOMAXPROCS never reached %d; set to %v", want, sets)
	}
	waitFor(3)
	mu.Lock()
	busy = false
	mu.Unlock()
	waitFor(1)

	mu.Lock()
	defer mu.Unlock()
	if sets[0] != 1 {
		t.Errorf("first Set(%d), want Set(1) before any sample", sets[0])
	}
	for i := 1; i < len(sets); i++ {
		if d := sets[i] - sets[i-1]; d != 1 && d != -1 {
			t.Errorf("Set went from %d to %d: one step at a time, please (%v)", sets[i-1], sets[i], sets)
		}
	}
}

// A failed reading of the CPU time is no sample, and the next good one
// covers both intervals: a busy process stays busy across it, where a
// negative or doubled figure would restart or skew the governor's counts.
func TestMeterSkipsFailedReadings(t *testing.T) {
	start := time.Unix(1000, 0)
	m := meter{cpu: 10 * time.Second, wall: start}
	steps := []struct {
		cpu   time.Duration
		after time.Duration
		cores float64
		ok    bool
	}{
		{11 * time.Second, time.Second, 1, true},
		{0, 2 * time.Second, 0, false}, // failed reading
		{13 * time.Second, 3 * time.Second, 1, true},
		{13 * time.Second, 3 * time.Second, 0, false}, // no time passed
		{13*time.Second + 500*time.Millisecond, 4 * time.Second, 0.5, true},
	}
	for i, st := range steps {
		cores, ok := m.sample(st.cpu, start.Add(st.after))
		if ok != st.ok || cores != st.cores {
			t.Errorf("step %d: %v cores, ok %v; want %v, %v", i, cores, ok, st.cores, st.ok)
		}
	}
}
