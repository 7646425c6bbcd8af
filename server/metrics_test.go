package server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exposition is a parsed Prometheus text exposition: sample values by name{labels}, and the
// declared type of each metric family.
type exposition struct {
	values map[string]float64
	types  map[string]string
}

// parseExposition reads the text format strictly enough to catch malformed output: every
// sample line is `name[{labels}] value`, and belongs to a family declared by # TYPE.
func parseExposition(r io.Reader) (*exposition, error) {
	e := &exposition{values: map[string]float64{}, types: map[string]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			e.types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("sample line %q: %v", line, err)
		}
		name, _, _ := strings.Cut(key, "{")
		family := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := strings.CutSuffix(name, suffix); ok && e.types[f] == "histogram" {
				family = f
			}
		}
		if e.types[family] == "" {
			return nil, fmt.Errorf("sample %q has no # TYPE line", key)
		}
		if _, dup := e.values[key]; dup {
			return nil, fmt.Errorf("sample %q appears twice", key)
		}
		e.values[key] = v
	}
	return e, sc.Err()
}

// checkHistogram checks that buckets are cumulative and +Inf equals the count.
func (e *exposition) checkHistogram(t *testing.T, name string, le []float64) {
	t.Helper()
	prev := 0.0
	for _, b := range le {
		v := e.values[fmt.Sprintf("%s_bucket{le=%q}", name, formatFloat(b))]
		if v < prev {
			t.Errorf("%s: bucket le=%v holds %v < %v", name, b, v, prev)
		}
		prev = v
	}
	if inf := e.values[name+`_bucket{le="+Inf"}`]; inf != e.values[name+"_count"] || inf < prev {
		t.Errorf("%s: +Inf bucket %v, count %v", name, inf, e.values[name+"_count"])
	}
}

func TestMetrics(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	completion, steps := 0.0, 0.0
	for _, body := range []string{`{"prompt":"12=","max_tokens":5,"num_steps":4}`, `{"prompt":"7=","max_tokens":3,"criterion":"kl","num_steps":12}`} {
		_, doc := post(t, hs.URL+"/v1/completions", body)
		u := doc["usage"].(map[string]any)
		completion += u["completion_tokens"].(float64)
		steps += u["recurrence_steps"].(float64)
	}
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	e, err := parseExposition(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"latent_tokens_generated_total":           completion,
		"latent_recurrence_steps_per_token_count": completion,
		"latent_recurrence_steps_per_token_sum":   steps,
		"latent_request_duration_seconds_count":   2,
		`latent_requests_total{outcome="ok"}`:     2,
		"latent_queue_depth":                      0,
		"latent_requests_running":                 0,
	} {
		if got, ok := e.values[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := e.values["latent_tokens_per_second"]; !ok || e.types["latent_batch_rows"] != "histogram" {
		t.Errorf("tokens/s or rows per batch missing: %v", e.types)
	}
	e.checkHistogram(t, "latent_recurrence_steps_per_token", s.metrics.steps.le)
	e.checkHistogram(t, "latent_request_duration_seconds", s.metrics.duration.le)
	e.checkHistogram(t, "latent_batch_rows", s.metrics.rows.le)
}

func TestParseExpositionRejects(t *testing.T) {
	for _, bad := range []string{"x 1\n", "# TYPE x gauge\nx one\n", "# TYPE x gauge\nx 1\nx 2\n"} {
		if _, err := parseExposition(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
}

// TestTokenRate checks the windowed rate with explicit clock readings.
func TestTokenRate(t *testing.T) {
	var r tokenRate
	t0 := time.Unix(1000, 0)
	for i := range 30 { // 3 tokens in each of seconds 1000..1009
		r.add(t0.Add(time.Duration(i/3) * time.Second))
	}
	if got := r.perSecond(t0.Add(10 * time.Second)); got != 3 {
		t.Errorf("rate %v, want 3", got)
	}
	r.add(t0.Add(10 * time.Second)) // the current second does not count yet
	if got := r.perSecond(t0.Add(10 * time.Second)); got != 3 {
		t.Errorf("rate %v, want 3", got)
	}
	if got := r.perSecond(t0.Add(30 * time.Second)); got != 0 {
		t.Errorf("stale rate %v, want 0", got)
	}
}
