package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/kernels"
)

// `latent bench --kernels --refresh` measures the paths afresh, prints a choice for every row
// count and rewrites a corrupt cache into a valid one.
func TestBenchKernelsRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the kernels")
	}
	file := filepath.Join(t.TempDir(), "kernels.json")
	t.Setenv("LATENT_KERNELS_CACHE", file)
	if err := os.WriteFile(file, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "", "bench", "--kernels", "--refresh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "kernels  "+kernels.Backend()) {
		t.Fatalf("no backend line:\n%s", out)
	}
	if c, _ := kernels.RowPaths(false); c == nil {
		if !strings.Contains(out, "portable Go") {
			t.Fatalf("no kernels, yet:\n%s", out)
		}
		return
	}
	if !strings.Contains(out, "refresh requested") || strings.Count(out, "\nbf16 ") != 16 || strings.Count(out, "\nf32 ") != 16 {
		t.Fatalf("want a refreshed choice for 16 row counts of each weight type:\n%s", out)
	}
	// The choice is explained: every path's score per weight type, and the packed kernel line
	// says why there are no times when there was only one candidate.
	for _, weights := range []string{"bf16", "f32"} {
		if !regexp.MustCompile(`(?m)^ +` + weights + ` +[a-z0-9]+: ([a-z0-9]+ [0-9.]+, )*[a-z0-9]+ [0-9.]+$`).MatchString(out) {
			t.Fatalf("no %s score line:\n%s", weights, out)
		}
	}
	if strings.Contains(out, "shapes: )") {
		t.Fatalf("empty packed GEMM times:\n%s", out)
	}
	var c kernels.RowChoice
	data, _ := os.ReadFile(file)
	if err := json.Unmarshal(data, &c); err != nil || len(c.Products) != 32 {
		t.Fatalf("cache not rewritten: %v, %d products\n%s", err, len(c.Products), data)
	}
}

// `latent convert --dtype q8_0` writes a checkpoint that forward runs on, close to the fp32
// original's logits.
func TestConvertQ8(t *testing.T) {
	dir := fixtures.Path(t, "huginn-tiny")
	out := filepath.Join(t.TempDir(), "q8")
	text, err := runCLI(t, "", "convert", "--in", dir, "--out", out, "--dtype", "q8_0", "--json")
	if err != nil {
		t.Fatal(err)
	}
	checkReportedBytes(t, text, out)
	ids := []string{"forward", "--ids", "1,357,109,160", "--steps", "4", "--json", "--model"}
	var got, want struct{ Logits [][]float32 }
	for _, c := range []struct {
		dir string
		v   any
	}{{out, &got}, {dir, &want}} {
		text, err := runCLI(t, "", append(ids, c.dir)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(text), c.v); err != nil {
			t.Fatal(err)
		}
	}
	for i, row := range got.Logits {
		for j, v := range row {
			if d := v - want.Logits[i][j]; d > 0.05 || d < -0.05 {
				t.Fatalf("q8_0 logit [%d][%d] = %g, fp32 %g", i, j, v, want.Logits[i][j])
			}
		}
	}
}

// checkReportedBytes checks that a --json report of init or convert gives the size the
// checkpoint's safetensors files in dir really take (a q8_0 conversion once reported 0 GB).
func checkReportedBytes(t *testing.T, report, dir string) {
	t.Helper()
	var rep struct{ Bytes int64 }
	if err := json.Unmarshal([]byte(report), &rep); err != nil {
		t.Fatalf("report %q: %v", report, err)
	}
	var want int64
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		want += info.Size()
	}
	if want == 0 || rep.Bytes != want {
		t.Fatalf("reported %d bytes, the %d safetensors files hold %d", rep.Bytes, len(files), want)
	}
}
