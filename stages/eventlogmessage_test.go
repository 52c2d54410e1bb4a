package stages

import (
	"maps"
	"testing"
)

func TestEventLogMessage(t *testing.T) {
	tests := []struct {
		name      string
		config    EventLogMessageConfig
		extracted map[string]any
		want      map[string]any
		dropped   bool
	}{
		{
			name:      "splits Key: Value lines",
			extracted: map[string]any{"message": "An account was logged on.\r\n\r\nSubject:\r\nLogon_Type:\t3\r\nAccount_Name:  alice\r\nProcess Name:\tC:\\lsass.exe"},
			want: map[string]any{
				"Subject": "", "Logon_Type": "3", "Account_Name": "alice", "Process_Name": `C:\lsass.exe`,
			},
		},
		{
			name:      "existing keys get a suffix",
			extracted: map[string]any{"message": "level: warn", "level": "info"},
			want:      map[string]any{"level": "info", "level_extracted": "warn"},
		},
		{
			name:      "overwrite_existing",
			config:    EventLogMessageConfig{OverwriteExisting: true},
			extracted: map[string]any{"message": "level: warn", "level": "info"},
			want:      map[string]any{"level": "warn"},
		},
		{
			name:      "drop_invalid_labels",
			config:    EventLogMessageConfig{DropInvalidLabels: true},
			extracted: map[string]any{"message": "Bad Key: x\r\nGood: yes: with colon\r\n1st: y"},
			want:      map[string]any{"Good": "yes: with colon"},
		},
		{
			name:      "sanitizes invalid names",
			extracted: map[string]any{"message": "Bad Key: x\r\n1st: y\r\n: empty\r\nnaïve: z"},
			want:      map[string]any{"Bad_Key": "x", "_st": "y", "_": "empty", "na_ve": "z"},
		},
		{
			name:      "custom source",
			config:    EventLogMessageConfig{Source: strPtr("msg")},
			extracted: map[string]any{"msg": "A: 1", "message": "B: 2"},
			want:      map[string]any{"A": "1"},
		},
		{
			name:      "invalid UTF-8 values are skipped",
			extracted: map[string]any{"message": "A: caf\xe9\r\nB: ok"},
			want:      map[string]any{"B": "ok"},
		},
		{
			name:      "missing source passes the entry",
			extracted: map[string]any{},
			want:      map[string]any{},
		},
		{
			name:      "a source without text form drops the entry",
			extracted: map[string]any{"message": nil},
			dropped:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := tt.config.NewStage(Options{Logger: stDiscardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			source := "message"
			if tt.config.Source != nil {
				source = *tt.config.Source
			}
			e := &Entry{Extracted: maps.Clone(tt.extracted)}
			passed := false
			st.Process(e, func(*Entry) { passed = true })
			if passed == tt.dropped {
				t.Fatalf("passed = %v, want %v", passed, !tt.dropped)
			}
			if tt.dropped {
				return
			}
			got := maps.Clone(e.Extracted)
			for k := range tt.extracted {
				if k == source || k == "message" {
					delete(got, k)
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("extracted %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventLogMessageConfigErrors(t *testing.T) {
	_, err := stPipelineErr("- eventlogmessage: {source: bad.name}", nil)
	stErrContains(t, err, "invalid label name: bad.name")
}
