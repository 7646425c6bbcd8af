package agent

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseTranscript: any bytes give events or an error, never a panic; the events parse
// back from the prefix they were read from, and a good prefix ends at a line end.
func FuzzParseTranscript(f *testing.F) {
	f.Add([]byte(`{"seq":1,"type":"start","time":"2026-01-01T00:00:00Z","working_s":0,"step":0}` + "\n"))
	f.Add([]byte(`{"seq":1,"type":"message","message":{"role":"user","content":"x"}}` + "\n" + `{"seq":2,"ty`))
	f.Add([]byte("\n"))
	f.Add([]byte(`{"seq":2}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, good, err := parseTranscript(data)
		if err != nil {
			return
		}
		if good > len(data) || (good > 0 && data[good-1] != '\n') || bytes.IndexByte(data[good:], '\n') >= 0 {
			t.Fatalf("good prefix %d of %q", good, data)
		}
		again, good2, err := parseTranscript(data[:good])
		if err != nil || good2 != good || len(again) != len(events) {
			t.Fatalf("prefix reparse: %v %d %d", err, good2, len(again))
		}
		for i, e := range events {
			if e.Seq != i+1 {
				t.Fatalf("event %d has seq %d", i, e.Seq)
			}
			if _, err := json.Marshal(e); err != nil {
				t.Fatal(err)
			}
		}
		replay(events) // must not panic on any decoded events
	})
}
