package progress

import (
	"bytes"
	"strings"
	"testing"
)

// Written to a buffer (not a terminal), the report is plain lines: one per tenth, one at the
// end, no carriage returns or escape codes.
func TestPlainLinesOffATerminal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 100, "train", false)
	for range 100 {
		b.Describe("loss 0.5")
		b.Add(1)
	}
	b.Finish()
	b.Finish() // idempotent
	out := buf.String()
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("plain report holds terminal control characters: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 11 {
		t.Errorf("%d lines, want 10 tenths + 1 final:\n%s", len(lines), out)
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "train: 100/100 (100 %)") || !strings.HasSuffix(last, "loss 0.5") {
		t.Errorf("final line %q", last)
	}
}

func TestBytesAndClamping(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 2e6, "convert", true)
	b.Add(3e6) // more than the total is clamped
	b.Finish()
	if !strings.Contains(buf.String(), "convert: 2.0/2.0 MB (100 %)") {
		t.Errorf("byte report: %q", buf.String())
	}
	if IsTerminal(&buf) {
		t.Error("a buffer is not a terminal")
	}
}
