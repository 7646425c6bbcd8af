package server

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/latentlab/latent/model"
)

// metrics are the server's Prometheus metrics, written in the text exposition format (0.0.4)
// by /metrics. Gauges that mirror the server's state (queue depth, running requests) are read
// at scrape time; the rest are counted as requests run.
type metrics struct {
	mu       sync.Mutex
	tokens   float64    // tokens generated
	recent   tokenRate  // tokens over the last few seconds
	steps    *histogram // recurrences per generated token
	rows     *histogram // rows per batched core pass
	duration *histogram // request duration in seconds
	outcomes map[string]float64
}

func newMetrics() *metrics {
	return &metrics{
		steps:    newHistogram(1, 2, 4, 8, 16, 32, 48, 64, 128, 256),
		rows:     newHistogram(1, 2, 4, 8, 16, 32, 64, 128),
		duration: newHistogram(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
		outcomes: map[string]float64{},
	}
}

// token counts one generated token and the recurrences behind it.
func (m *metrics) token(steps int, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens++
	m.recent.add(now)
	m.steps.observe(float64(steps))
}

// pass counts one batched pass by the positions of its rows.
func (m *metrics) pass(rows []model.Row) {
	n := 0
	for _, r := range rows {
		n += r.N
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows.observe(float64(n))
}

// request counts a finished request by outcome ("ok", "error", "cancelled").
func (m *metrics) request(outcome string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outcomes[outcome]++
	m.duration.observe(d.Seconds())
}

// histogram counts observations in cumulative buckets with upper bounds le.
type histogram struct {
	le     []float64
	counts []float64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      float64
}

func newHistogram(le ...float64) *histogram {
	return &histogram{le: le, counts: make([]float64, len(le)+1)}
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.le) && v > h.le[i] {
		i++
	}
	h.counts[i]++
	h.sum += v
	h.n++
}

func (h *histogram) write(w io.Writer, name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	cum := 0.0
	for i, c := range h.counts {
		cum += c
		le := "+Inf"
		if i < len(h.le) {
			le = formatFloat(h.le[i])
		}
		fmt.Fprintf(w, "%s_bucket{le=%q} %s\n", name, le, formatFloat(cum))
	}
	fmt.Fprintf(w, "%s_sum %s\n%s_count %s\n", name, formatFloat(h.sum), name, formatFloat(h.n))
}

// tokenRate counts tokens in one-second buckets: the last rateWindow whole seconds and the
// current one.
type tokenRate struct {
	sec    [rateWindow + 1]int64 // the second each bucket counts
	counts [rateWindow + 1]float64
}

const rateWindow = 10

func (r *tokenRate) add(now time.Time) {
	s := now.Unix()
	i := s % (rateWindow + 1)
	if r.sec[i] != s {
		r.sec[i], r.counts[i] = s, 0
	}
	r.counts[i]++
}

// perSecond is the mean rate over the last rateWindow whole seconds before now.
func (r *tokenRate) perSecond(now time.Time) float64 {
	s, total := now.Unix(), 0.0
	for i := range r.sec {
		if age := s - r.sec[i]; age >= 1 && age <= rateWindow {
			total += r.counts[i]
		}
	}
	return total / rateWindow
}

func formatFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// metricsHandler serves /metrics.
func (s *Server) metricsHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m := s.metrics
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, formatFloat(v))
	}
	gauge("latent_queue_depth", "Requests waiting for a decoding slot.", float64(s.waiting.Load()))
	gauge("latent_requests_running", "Requests decoding now.", float64(len(s.slots)))
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(w, "# HELP latent_tokens_generated_total Tokens generated.\n# TYPE latent_tokens_generated_total counter\nlatent_tokens_generated_total %s\n", formatFloat(m.tokens))
	gauge("latent_tokens_per_second", "Tokens generated per second over the last 10 seconds.", m.recent.perSecond(time.Now()))
	fmt.Fprintf(w, "# HELP latent_requests_total Finished requests by outcome.\n# TYPE latent_requests_total counter\n")
	for _, o := range []string{"ok", "error", "cancelled"} {
		fmt.Fprintf(w, "latent_requests_total{outcome=%q} %s\n", o, formatFloat(m.outcomes[o]))
	}
	m.steps.write(w, "latent_recurrence_steps_per_token", "Recurrences behind each generated token.")
	m.rows.write(w, "latent_batch_rows", "Rows (token positions of all requests) per batched pass: recurrences, or codas and heads.")
	m.duration.write(w, "latent_request_duration_seconds", "Request duration from arrival to the last byte.")
}
