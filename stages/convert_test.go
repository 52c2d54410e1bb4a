package stages

import (
	"math"
	"testing"
)

func TestStringify(t *testing.T) {
	tests := []struct {
		in      any
		want    string
		wantErr bool
	}{
		{"text", "text", false},
		{"", "", false},
		{1.5, "1.5", false},
		{1e21, "1000000000000000000000", false},
		{1e-7, "0.0000001", false},
		{math.Copysign(0, -1), "-0", false},
		{float32(0.1), "0.1", false},
		{42, "42", false},
		{int64(-7), "-7", false},
		{int32(3), "3", false},
		{uint(9), "9", false},
		{uint64(math.MaxUint64), "18446744073709551615", false},
		{uint32(5), "5", false},
		{true, "true", false},
		{false, "false", false},
		{nil, "", true},
		{[]any{1}, "", true},
		{map[string]any{}, "", true},
	}
	for _, tt := range tests {
		got, err := stringify(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("stringify(%#v) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
