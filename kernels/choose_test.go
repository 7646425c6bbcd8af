package kernels

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeMeasure returns a choice of pathRows (where s has it) for every product, counting calls.
func fakeMeasure(calls *int) func(*isa) []ProductPaths {
	return func(s *isa) []ProductPaths {
		*calls++
		best := map[path][]float64{pathGemv: make([]float64, len(measuredRows))}
		for i, m := range measuredRows {
			best[pathGemv][i] = float64(m)
		}
		if s.runs(pathRows, true) {
			best[pathRows] = make([]float64, len(measuredRows))
			for i := range measuredRows {
				best[pathRows][i] = 0.5
			}
		}
		return append(choosePaths(true, best), choosePaths(false, best)...)
	}
}

func firstISA(t testing.TB) *isa {
	list := supportedISAs()
	if len(list) == 0 {
		t.Skip("no assembly kernels on this CPU")
	}
	return list[0]
}

// TestChoiceCache checks that a measurement is written, read back without measuring again, and
// measured afresh on refresh, when the file is corrupt, and when it comes from another CPU,
// implementation or worker count, names a path the implementation lacks, or takes another
// path than the one-row path for m ≤ MaxRowwise, or a packed GEMM it lacks.
func TestChoiceCache(t *testing.T) {
	s := firstISA(t)
	file := filepath.Join(t.TempDir(), "sub", "kernels.json")
	calls := 0
	measure := fakeMeasure(&calls)
	c, err := loadOrMeasure(s, file, false, measure)
	if err != nil || calls != 1 || !strings.Contains(c.Source, "no cache yet") {
		t.Fatalf("first use: calls %d, source %q, err %v", calls, c.Source, err)
	}
	if c, err = loadOrMeasure(s, file, false, measure); err != nil || calls != 1 || !strings.HasPrefix(c.Source, "read from") {
		t.Fatalf("second use: calls %d, source %q, err %v", calls, c.Source, err)
	}
	if c, _ = loadOrMeasure(s, file, true, measure); calls != 2 || !strings.Contains(c.Source, "refresh") {
		t.Fatalf("refresh: calls %d, source %q", calls, c.Source)
	}
	good, _ := os.ReadFile(file)
	edits := map[string]func(c *RowChoice){
		"measured on":     func(c *RowChoice) { c.CPU = "Some Other CPU flags:0000" },
		"kernels, in use": func(c *RowChoice) { c.ISA = "avx9" },
		"workers":         func(c *RowChoice) { c.Workers++ },
		"version":         func(c *RowChoice) { c.Version = 0 },
		"is not one of":   func(c *RowChoice) { c.Products[3].Path = "turbo" },
		"chosen twice":    func(c *RowChoice) { c.Products[3].Rows = c.Products[2].Rows },
		"outside":         func(c *RowChoice) { c.Products[0].Rows = MaxFewRows + 1 },
		"unknown weight":  func(c *RowChoice) { c.Products[0].Weights = "int4" },
		"products, want":  func(c *RowChoice) { c.Products = c.Products[1:] },
		"packed kernel":   func(c *RowChoice) { c.Packed = "avx9-1x1" },
	}
	if MaxRowwise >= 2 {
		edits["not the one-row path"] = func(c *RowChoice) {
			c.Products[1].Path = map[bool]string{true: "packed", false: "gemv"}[c.Products[0].Path == "gemv"]
		}
	}
	for want, edit := range edits {
		var bad RowChoice
		if err := json.Unmarshal(good, &bad); err != nil {
			t.Fatal(err)
		}
		edit(&bad)
		data, _ := json.Marshal(&bad)
		expectRemeasure(t, s, file, data, want, &calls, measure)
	}
	for _, data := range []string{"", "{", `{"version": 1, "surprise": true}`, string(good[:len(good)/2])} {
		expectRemeasure(t, s, file, []byte(data), "corrupt", &calls, measure)
	}
	expectRemeasure(t, s, file, []byte("null"), "version 0", &calls, measure)
}

// expectRemeasure writes data as the cache and checks that loading it measures afresh for the
// reason want and leaves a valid cache behind.
func expectRemeasure(t *testing.T, s *isa, file string, data []byte, want string, calls *int, measure func(*isa) []ProductPaths) {
	t.Helper()
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := *calls
	c, err := loadOrMeasure(s, file, false, measure)
	if err != nil || *calls != before+1 || !strings.Contains(c.Source, want) {
		t.Fatalf("cache %.60q: calls %d→%d, source %q (want %q), err %v", data, before, *calls, c.Source, want, err)
	}
	if _, err := readChoice(s, file); err != nil {
		t.Fatalf("rewritten cache invalid: %v", err)
	}
}

// TestChoiceInstalled checks that an installed choice is what pathFor returns, that a real
// measurement chooses, for every m, a path the implementation runs, and that products above
// MaxFewRows stay on the packed path.
func TestChoiceInstalled(t *testing.T) {
	if testing.Short() {
		t.Skip("measures")
	}
	s := firstISA(t)
	t.Setenv("LATENT_KERNELS_CACHE", "off")
	c, err := loadOrMeasure(s, "", false, measurePaths)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validFor(s); err != nil {
		t.Fatalf("measured choice invalid: %v", err)
	}
	s.install(c)
	if got := s.packedISA().gemmName; got != c.Packed || s.packedNamed(got) == nil {
		t.Fatalf("packed GEMM in use %q, chosen %q", got, c.Packed)
	}
	for _, p := range c.Products {
		if got := s.pathFor(p.Weights == "bf16", p.Rows); got.String() != p.Path {
			t.Fatalf("%s m=%d: pathFor %s, chosen %s", p.Weights, p.Rows, got, p.Path)
		}
		if len(p.Seconds) < 2 {
			t.Fatalf("%s m=%d compared %v", p.Weights, p.Rows, p.Seconds)
		}
	}
	if s.pathFor(true, MaxFewRows+1) != pathPacked {
		t.Fatal("more than MaxFewRows rows must take the packed path")
	}
}

func TestInterpolate(t *testing.T) {
	xs, ys := []int{1, 2, 4, 8}, []float64{1, 2, 4, 12}
	for _, c := range []struct {
		x     int
		y     float64
		exact bool
	}{{1, 1, true}, {2, 2, true}, {3, 3, false}, {4, 4, true}, {6, 8, false}, {8, 12, true}} {
		if y, exact := interpolate(xs, ys, c.x); y != c.y || exact != c.exact {
			t.Fatalf("interpolate(%d) = %g, %v; want %g, %v", c.x, y, exact, c.y, c.exact)
		}
	}
}

// FuzzReadChoice: any cache file is either refused or installs a table whose every entry is a
// path the implementation runs.
func FuzzReadChoice(f *testing.F) {
	s := firstISA(f)
	calls := 0
	good, _ := json.Marshal(&RowChoice{Version: cacheVersion, CPU: cpuKey(), ISA: s.name, Workers: Workers(),
		Products: fakeMeasure(&calls)(s)})
	f.Add(good)
	f.Add([]byte(`{"version":1,"products":[{"weights":"bf16","rows":0,"path":"rows"}]}`))
	file := filepath.Join(f.TempDir(), "kernels.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := readChoice(s, file)
		if err != nil {
			return
		}
		probe := *s
		probe.choice = new(choiceState)
		probe.install(c)
		for _, bf16 := range []bool{false, true} {
			for m := 1; m <= MaxFewRows; m++ {
				if p := probe.pathFor(bf16, m); !s.runs(p, bf16) {
					t.Fatalf("installed path %s for m=%d, which %s lacks", p, m, s.name)
				}
			}
		}
	})
}

// TestParseCacheSize checks the sysfs cache sizes measureBytes reads, and that the measured
// weights stay within their bounds whatever this CPU reports.
func TestParseCacheSize(t *testing.T) {
	for v, want := range map[string]int{"32768K": 32 << 20, "1M": 1 << 20, "512": 512, "": 0, "12X": 0, "-4K": 0} {
		if got := parseCacheSize(v); got != want {
			t.Errorf("parseCacheSize(%q) = %d, want %d", v, got, want)
		}
	}
	if b := measureBytes(); b < minMeasureBytes || b > maxMeasureBytes || b < 2*min(lastLevelCache(), maxMeasureBytes/2) {
		t.Errorf("measureBytes %d with a %d-byte last-level cache", b, lastLevelCache())
	}
	for _, bf16 := range []bool{true, false} {
		if n, k := measureShape(bf16); n%16 != 0 || k%32 != 0 || n*k*map[bool]int{true: 2, false: 4}[bf16] > measureBytes() {
			t.Errorf("bf16 %v: shape %d×%d for %d bytes", bf16, n, k, measureBytes())
		}
	}
}

// TestOneRowScores checks the scores by which the one-row path is chosen: each path's time
// over the fastest one's, averaged over the measured m, the least for the path chosen.
func TestOneRowScores(t *testing.T) {
	best := map[path][]float64{pathGemv: {1, 2, 4, 8, 16}, pathRows: {2, 2, 2, 4, 8}}
	c := &RowChoice{Products: choosePaths(true, best)}
	got := c.OneRowScores("bf16")
	// gemv: 1, 1, 2, 2, 2 times the fastest; rows: 2, 1, 1, 1, 1.
	if got["gemv"] != 1.6 || got["rows"] != 1.2 || len(got) != 2 {
		t.Fatalf("scores %v, want gemv 1.6, rows 1.2", got)
	}
	if c.Products[0].Path != "rows" {
		t.Fatalf("chose %s, not the least score", c.Products[0].Path)
	}
}
