package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/agent/agenttest"
)

// envInt reads a benchmark size from the environment.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// copyPaper makes a copy of the tiny paper under a new id.
func copyPaper(b *testing.B, dst, id string) string {
	dir := filepath.Join(dst, id)
	if err := os.CopyFS(dir, os.DirFS(tinyPaper)); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("id: "+id+"\ntitle: copy\n"), 0o644)
	return dir
}

// BenchmarkRunScale runs papers × seeds rollouts of a scripted agent making calls tool
// calls each with a fixed model latency (PB_SCALE_PAPERS, PB_SCALE_SEEDS, PB_SCALE_CALLS,
// PB_SCALE_LATENCY_MS, PB_SCALE_CONCURRENCY; defaults 20 × 3 × 200, 50 ms, 20) through
// reproduction and the dummy judge, and reports the wall time against the ideal (model
// latency only, rollouts in waves of the concurrency), the peak RSS and the peak open files.
func BenchmarkRunScale(b *testing.B) {
	papers, seeds := envInt("PB_SCALE_PAPERS", 20), envInt("PB_SCALE_SEEDS", 3)
	calls, conc := envInt("PB_SCALE_CALLS", 200), envInt("PB_SCALE_CONCURRENCY", 20)
	latency := time.Duration(envInt("PB_SCALE_LATENCY_MS", 50)) * time.Millisecond
	pad := calls - len(agenttest.ReplicatorSteps)
	srv := agenttest.NewSlow(latency, agenttest.Replicator(pad))
	defer srv.Close()
	for b.Loop() {
		base := b.TempDir()
		args := []string{"run", "--out", filepath.Join(base, "out"), "--run-group", "scale", "--seeds", strconv.Itoa(seeds),
			"--base-url", srv.BaseURL(), "--api-key", "k", "--judge", "dummy", "--concurrency", strconv.Itoa(conc), "--time-limit", "10h"}
		for i := range papers {
			args = append(args, "--paper-dir", copyPaper(b, filepath.Join(base, "papers"), fmt.Sprintf("paper-%02d", i)))
		}
		stop := make(chan struct{})
		var peakFDs atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() { sampleFDs(stop, &peakFDs) })
		start := time.Now()
		out, err := runCLIb(args...)
		wall := time.Since(start)
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		// Ideal: only the model's latency, rollouts in waves of --concurrency.
		waves := (papers*seeds + conc - 1) / conc
		ideal := time.Duration(waves*(calls+1)) * latency
		b.ReportMetric(wall.Seconds(), "wall_s")
		b.ReportMetric(ideal.Seconds(), "ideal_s")
		b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
		b.ReportMetric(float64(peakRSSKiB())/1024, "peak_rss_MiB")
		b.ReportMetric(float64(peakFDs.Load()), "peak_open_files")
		b.ReportMetric(float64(srv.Calls()), "model_calls")
	}
}

// runCLIb runs the command line in-process for a benchmark.
func runCLIb(args ...string) (string, error) {
	var out strings.Builder
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	err := rootCmd.Execute()
	return out.String(), err
}

func sampleFDs(stop <-chan struct{}, peak *atomic.Int64) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if es, err := os.ReadDir("/proc/self/fd"); err == nil && int64(len(es)) > peak.Load() {
			peak.Store(int64(len(es)))
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// peakRSSKiB reads VmHWM (the peak resident set) of this process.
func peakRSSKiB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
