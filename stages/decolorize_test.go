package stages

import "testing"

func TestDecolorizeStage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain line", "plain line"},
		{"\x1b[31mERROR\x1b[0m x", "ERROR x"},
		{"\x1b[1;32mOK\x1b[0m \x1b[38;5;208mo\x1b[39m \x1b[48;2;10;20;30mrgb\x1b[49m", "OK o rgb"},
		{"\x1b[0;32mgreen\x1b[0m \x1b[0;31mred\x1b[0m", "green red"},
		{"\x1b]0;title\x07after", "after"},
		// A space ends what the pattern takes for an OSC body; Promtail then
		// strips only the introducer and the first parameter.
		{"\x1b]0;window title\x07after", ";window title\x07after"},
		{"\u009b31mcsi\u009b0m", "csi"},
		{"\x1b[2K\x1b[1Gcursor", "cursor"},
		{"\x1b(Bcharset", "charset"},
		{"\x1b[12345m", "m"},
		{"lone \x1b escape", "lone \x1b escape"},
		{"raw \x9b31m byte", "raw \x9b31m byte"},
		{"\x1b[?25lhidden", "hidden"},
	}
	p := mkPipeline(t, "- decolorize: {}")
	for _, tt := range tests {
		got := mkRun(p, tt.in)
		if len(got) != 1 || got[0].Line != tt.want {
			t.Errorf("decolorize(%q) = %q, want %q", tt.in, mkLines(got), tt.want)
		}
	}
}

func TestDecolorizeNullBody(t *testing.T) {
	got := mkRun(mkPipeline(t, "- decolorize:"), "\x1b[1mb\x1b[0m")
	if len(got) != 1 || got[0].Line != "b" {
		t.Errorf("got %q", mkLines(got))
	}
}
