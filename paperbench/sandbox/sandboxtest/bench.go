package sandboxtest

import (
	"context"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/sandbox"
)

// reportMedian reports the median of ds in milliseconds as the metric "median-ms".
func reportMedian(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "median-ms")
}

// BenchCreateExecClose times create + exec `true` + close, once per b.N (run it with
// -benchtime=20x for a median of 20).
func BenchCreateExecClose(b *testing.B, p sandbox.Provider, spec sandbox.Spec) {
	ctx := context.Background()
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		s, err := p.Create(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if r, err := s.Exec(ctx, sandbox.ExecRequest{Argv: []string{"true"}}); err != nil || r.ExitCode != 0 {
			b.Fatalf("true: %v exit %d", err, r.ExitCode)
		}
		if err := s.Close(ctx); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	reportMedian(b, ds)
}

// BenchExec times exec `true` in one sandbox.
func BenchExec(b *testing.B, p sandbox.Provider, spec sandbox.Spec) {
	ctx := context.Background()
	s, err := p.Create(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx)
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := s.Exec(ctx, sandbox.ExecRequest{Argv: []string{"true"}}); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	reportMedian(b, ds)
}

// BenchHostExec times a plain fork+exec of /bin/true on the host, the baseline.
func BenchHostExec(b *testing.B) {
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := exec.Command("true").Run(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	reportMedian(b, ds)
}

// BenchTarOut times GetTar of a tree of files×size bytes made inside the sandbox, read to
// the end, and reports MB/s as well as the median.
func BenchTarOut(b *testing.B, p sandbox.Provider, spec sandbox.Spec, files, size int) {
	ctx := context.Background()
	s, err := p.Create(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx)
	mk := sandbox.ExecRequest{Shell: `mkdir -p /submission/tree && for i in $(seq ` + strconv.Itoa(files) + `); do head -c ` + strconv.Itoa(size) + ` /dev/urandom > /submission/tree/f$i; done`}
	if r, err := s.Exec(ctx, mk); err != nil || r.ExitCode != 0 {
		b.Fatalf("making the tree: %v %s", err, r.Output)
	}
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		rc, err := s.GetTar(ctx, "/submission/tree")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n < int64(files*size) {
			b.Fatalf("tar out: %d bytes, %v", n, err)
		}
		ds = append(ds, time.Since(t0))
	}
	reportMedian(b, ds)
	b.ReportMetric(float64(files*size)/1e6/ds[len(ds)/2].Seconds(), "MB/s")
}

// BenchHostTar makes the same tree as BenchTarOut in a host folder and times host
// `tar -cf - DIR | cat > /dev/null` over it (cat, because GNU tar skips reading files when it
// writes to /dev/null itself), the baseline for BenchTarOut.
func BenchHostTar(b *testing.B, files, size int) {
	dir := b.TempDir()
	mk := `for i in $(seq ` + strconv.Itoa(files) + `); do head -c ` + strconv.Itoa(size) + ` /dev/urandom > "$1/f$i"; done`
	if out, err := exec.Command("bash", "-c", mk, "mk", dir).CombinedOutput(); err != nil {
		b.Fatalf("%v %s", err, out)
	}
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if out, err := exec.Command("bash", "-c", `tar -cf - -C "$1" . | cat > /dev/null`, "tar", dir).CombinedOutput(); err != nil {
			b.Fatalf("%v %s", err, out)
		}
		ds = append(ds, time.Since(t0))
	}
	reportMedian(b, ds)
	b.ReportMetric(float64(files*size)/1e6/ds[len(ds)/2].Seconds(), "MB/s")
}
