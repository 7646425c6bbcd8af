// Command loadtest drives an OpenAI-compatible latent server with many concurrent streaming
// clients, a share of which cancel mid-stream, and reports latency percentiles, aggregate
// tokens per second (against one client alone), errors, peak RSS and goroutines left behind.
//
//	go run ./cmd/loadtest -clients 64 -duration 5m -cancel 0.25
//
// Without -addr it serves the embedded default model in-process (so that RSS and goroutines
// are the server's); with -addr it targets a running `latent serve` and reports only what a
// client sees.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/model/defaultmodel"
	"github.com/latentlab/latent/server"
	"github.com/latentlab/latent/tasks"
)

type config struct {
	addr      string
	clients   int
	duration  time.Duration
	cancel    float64
	maxTokens int
	batch     int
	profile   string
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "", "server URL (default: serve the embedded default model in-process)")
	flag.IntVar(&c.clients, "clients", 64, "concurrent streaming clients")
	flag.DurationVar(&c.duration, "duration", time.Minute, "length of each phase (1 client, then -clients)")
	flag.Float64Var(&c.cancel, "cancel", 0.25, "share of clients that cancel every request mid-stream")
	flag.IntVar(&c.maxTokens, "max-tokens", 12, "max_tokens per request")
	flag.IntVar(&c.batch, "max-batch", 16, "in-process server: requests decoding at once")
	flag.StringVar(&c.profile, "cpuprofile", "", "write a CPU profile of the many-client phase to this file")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.clients < 1 || c.cancel < 0 || c.cancel > 1 || c.duration <= 0 || c.maxTokens < 2 {
		return errors.New("want -clients ≥ 1, -cancel in [0, 1], -duration > 0 and -max-tokens ≥ 2")
	}
	baseline := runtime.NumGoroutine()
	url, stop := c.addr, func() error { return nil }
	if url == "" {
		var err error
		if url, stop, err = serveDefault(c.batch, c.clients); err != nil {
			return err
		}
	}
	one := phase(url, 1, 0, c)
	fmt.Println(one.report("1 client"))
	stopProfile, err := startProfile(c.profile)
	if err != nil {
		return err
	}
	many := phase(url, c.clients, c.cancel, c)
	stopProfile()
	fmt.Println(many.report(fmt.Sprintf("%d clients, %.0f%% cancelling", c.clients, 100*c.cancel)))
	fmt.Printf("aggregate tokens/s against one client: %.2f× delivered, %.2f× generated\n",
		many.tokensPerSecond()/one.tokensPerSecond(), many.generated/one.generated*one.wall.Seconds()/many.wall.Seconds())
	if c.addr != "" {
		return nil
	}
	if err := stop(); err != nil {
		return err
	}
	client.CloseIdleConnections()
	time.Sleep(time.Second) // let finished connection goroutines exit
	fmt.Printf("peak RSS %s; goroutines %d before, %d after shutdown\n", peakRSS(), baseline, runtime.NumGoroutine())
	return nil
}

// serveDefault serves the embedded default model on a free local port.
func serveDefault(batch, clients int) (string, func() error, error) {
	dir, remove, err := defaultmodel.Extract()
	if err != nil {
		return "", nil, err
	}
	defer remove()
	m, err := model.Load(dir)
	if err != nil {
		return "", nil, err
	}
	task, _, err := tasks.LoadVocab(dir)
	if err != nil {
		return "", nil, err
	}
	s, err := server.New(server.Config{Model: m, Codec: server.VocabCodec{Vocab: task.Vocab()}, ModelName: "latent-default",
		MaxBatch: batch, MaxQueue: 2 * clients})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: s}
	go hs.Serve(ln)
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := hs.Shutdown(ctx)
		s.Close()
		return errors.Join(err, m.Close())
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// result collects one phase.
type result struct {
	mu        sync.Mutex
	latencies []time.Duration // completed requests: start to [DONE]
	tokens    int             // completion tokens of completed requests (usage)
	cancelled int
	errs      []string
	wall      time.Duration
	generated float64 // tokens the server generated (its /metrics), cancelled requests' included
}

func (r *result) tokensPerSecond() float64 { return float64(r.tokens) / r.wall.Seconds() }

func (r *result) report(name string) string {
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	s := fmt.Sprintf("%s: %d completed, %d cancelled, %d errors; latency p50 %v p99 %v; %.1f tokens/s delivered (completed requests), %.1f generated",
		name, len(r.latencies), r.cancelled, len(r.errs), pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond),
		r.tokensPerSecond(), r.generated/r.wall.Seconds())
	for i, e := range r.errs {
		if i == 5 {
			s += fmt.Sprintf("\n  … %d more", len(r.errs)-5)
			break
		}
		s += "\n  error: " + e
	}
	return s
}

// phase runs clients for the configured duration; the first cancel·clients cancel each request
// after its second chunk.
func phase(url string, clients int, cancel float64, c config) *result {
	r := &result{}
	before := generatedTokens(url)
	start := time.Now()
	deadline := start.Add(c.duration)
	var wg sync.WaitGroup
	for i := range clients {
		cancels := i < int(cancel*float64(clients)+0.5)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for time.Now().Before(deadline) {
				request(url, rng, cancels, c, r)
			}
		})
	}
	wg.Wait()
	r.wall = time.Since(start)
	r.generated = generatedTokens(url) - before
	return r
}

// generatedTokens reads latent_tokens_generated_total from the server's /metrics (0 if absent).
func generatedTokens(url string) float64 {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "latent_tokens_generated_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// client keeps a connection per client alive between requests (the default transport keeps two
// per host, so most of 64 clients would open a new connection for every request).
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}

// modes are the thinking fields the requests cycle through.
var modes = []string{`"num_steps":8`, `"num_steps":16,"criterion":"kl","exit_threshold":1e-5`,
	`"num_steps":8,"continuous_compute":true`, `"num_steps":8,"draft_steps":2,"lookahead_for_draft":3`}

// request sends one streaming completion and records how it ended.
func request(url string, rng *rand.Rand, cancels bool, c config, r *result) {
	var digits strings.Builder
	for range 4 + rng.IntN(8) {
		digits.WriteByte(byte('0' + rng.IntN(10)))
	}
	body := fmt.Sprintf(`{"prompt":"%s=","max_tokens":%d,"temperature":0,"stream":true,"stream_options":{"include_usage":true},%s}`,
		digits.String(), c.maxTokens, modes[rng.IntN(len(modes))])
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/completions", bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		r.fail(err.Error())
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.fail(fmt.Sprintf("status %d", resp.StatusCode))
		return
	}
	tokens, chunks, done := 0, 0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var ev struct {
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			}
			Error *struct{ Message string }
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil || ev.Error != nil {
			r.fail(fmt.Sprintf("bad event %q", data))
			return
		}
		if ev.Usage != nil {
			tokens = ev.Usage.CompletionTokens
		}
		if chunks++; cancels && chunks == 2 {
			stop()
			r.mu.Lock()
			r.cancelled++
			r.mu.Unlock()
			return
		}
	}
	if !done {
		r.fail(fmt.Sprintf("stream ended without [DONE]: %v", sc.Err()))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies = append(r.latencies, time.Since(start))
	r.tokens += tokens
}

func (r *result) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, msg)
}

// startProfile starts a CPU profile into path ("" for none) and returns what stops it.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// peakRSS reads VmHWM from /proc/self/status.
func peakRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
