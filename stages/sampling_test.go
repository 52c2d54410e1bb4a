package stages

import (
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSamplingRates(t *testing.T) {
	tests := []struct {
		rate     float64
		min, max int // kept out of 1000
	}{
		{rate: 0, min: 0, max: 0},
		{rate: 1, min: 1000, max: 1000},
		{rate: 0.5, min: 450, max: 550},
		{rate: 0.1, min: 70, max: 130},
	}
	for _, tt := range tests {
		reg := prometheus.NewRegistry()
		st, err := (&SamplingConfig{Rate: tt.rate}).newStage(Options{Registerer: reg}, rand.NewPCG(1, 2))
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		for range 1000 {
			st.Process(stEntry("x", ""), func(*Entry) { kept++ })
		}
		if kept < tt.min || kept > tt.max {
			t.Errorf("rate %v kept %d of 1000, want %d..%d", tt.rate, kept, tt.min, tt.max)
		}
		dm, err := NewDropMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(dm.Lines.WithLabelValues(DropReasonSampling)); int(got) != 1000-kept {
			t.Errorf("rate %v: drop counter %v, want %d", tt.rate, got, 1000-kept)
		}
	}
}

func TestSamplingIsDeterministicForASeed(t *testing.T) {
	run := func() []bool {
		st, err := (&SamplingConfig{Rate: 0.3}).newStage(Options{}, rand.NewPCG(7, 7))
		if err != nil {
			t.Fatal(err)
		}
		var kept []bool
		for range 64 {
			k := false
			st.Process(stEntry("x", ""), func(*Entry) { k = true })
			kept = append(kept, k)
		}
		return kept
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d differs between runs with the same seed", i)
		}
	}
}

func TestSamplingConfig(t *testing.T) {
	tests := []struct {
		name, pipeline, want string
	}{
		{"above one", "- sampling: {rate: 1.5}", "Sampling Rate must be between 0.0 and 1.0, received 1.500000"},
		{"negative", "- sampling: {rate: -0.1}", "Sampling Rate must be between 0.0 and 1.0"},
		{"not a number", "- sampling: {rate: often}", "cannot parse 'rate' as float"},
		{"NaN", "- sampling: {rate: .nan}", "Sampling Rate must be between 0.0 and 1.0, received NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stPipelineErr(tt.pipeline, nil)
			stErrContains(t, err, tt.want)
		})
	}
	// Weak decoding: a quoted rate is a number.
	p := stPipeline(t, `- sampling: {rate: "1", drop_counter_reason: x}`, nil)
	if out := stRun(p, stEntry("kept", "")); len(out) != 1 {
		t.Fatalf("rate \"1\" dropped the entry")
	}
}
