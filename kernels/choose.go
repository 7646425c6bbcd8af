package kernels

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The path for each product with few rows is chosen by measurement on the CPU that runs it:
// at first use, every path the implementation has is timed on weights beyond the caches (see
// measureBytes) for
// m = measuredRows, and each m up to MaxFewRows takes the path with the smallest (measured or,
// between measured m, interpolated) time. The result is cached per CPU in
// os.UserCacheDir()/latent/kernels.json (LATENT_KERNELS_CACHE names another file, "off" none);
// LATENT_KERNELS_REFRESH=1, or RowPaths(true), measures again. A cache that does not parse,
// comes from another CPU, implementation or worker count, or names a path this implementation
// lacks is never used: it is measured afresh and rewritten. Every path computes the same
// products (and passed the self-test), so a choice can only cost speed.

// cacheVersion changes whenever the cache's meaning does (paths, measured shape, fields), or
// its timings stop describing the kernels (6: the AVX-512 row and q8_0 kernels prefetch into L2;
// 7: pathDP runs eight rows of x at once).
const cacheVersion = 7

// measureK is the length of the measured weight rows (Huginn-0125's are 5280 and 17920 long).
const measureK = 5120

// The bytes of the measured weights (both types): twice the CPU's last-level cache, within
// these bounds. Decode products of real models stream their weights from memory (Huginn-0125:
// 167 MB per MLP matrix), and the paths rank differently there than on cache-resident weights:
// on 2048×2048 bf16 weights (8 MiB, inside the 32 MiB L3 of the EPYC of DESIGN.md) the matrix-
// vector path won for every m, while on the Huginn shape it lost to the row-sharing paths by
// 1.5–1.8× from m = 4 on. The upper bound keeps the measurement short where the L3 is huge
// (the Xeon's 480 MiB); the lower one covers CPUs that do not report their caches.
const (
	minMeasureBytes = 64 << 20
	maxMeasureBytes = 512 << 20
)

// measureShape returns the rows and length of the measured weights of one type: measureK long,
// as many rows (a multiple of 16) as measureBytes allows.
func measureShape(bf16 bool) (n, k int) {
	elem := 4
	if bf16 {
		elem = 2
	}
	return measureBytes() / (elem * measureK) &^ 15, measureK
}

// measureBytes is the size of the measured weights: twice the last-level cache this CPU reports
// (lastLevelCache), within minMeasureBytes and maxMeasureBytes.
func measureBytes() int {
	return min(max(2*lastLevelCache(), minMeasureBytes), maxMeasureBytes)
}

// lastLevelCache returns the size of CPU 0's largest cache as Linux reports it in sysfs, 0
// where it does not.
func lastLevelCache() int {
	largest := 0
	for i := range 8 {
		data, err := os.ReadFile(fmt.Sprintf("/sys/devices/system/cpu/cpu0/cache/index%d/size", i))
		if err != nil {
			break
		}
		largest = max(largest, parseCacheSize(strings.TrimSpace(string(data))))
	}
	return largest
}

// parseCacheSize reads a sysfs cache size ("32768K", "1M", "512"), 0 if it is not one.
func parseCacheSize(v string) int {
	unit := 1
	switch {
	case strings.HasSuffix(v, "K"):
		unit, v = 1<<10, strings.TrimSuffix(v, "K")
	case strings.HasSuffix(v, "M"):
		unit, v = 1<<20, strings.TrimSuffix(v, "M")
	}
	size, err := strconv.Atoi(v)
	if err != nil || size < 0 {
		return 0
	}
	return size * unit
}

// measuredRows are the m timed; the others are interpolated between their neighbours.
var measuredRows = []int{1, 2, 4, 8, 16}

// measureRounds is how often each (m, path) is timed, round robin, keeping the fastest: a
// single sample on a shared machine can be twice too slow even in CPU time (caches and memory
// bandwidth are shared too).
const measureRounds = 5

// RowChoice is how products with 1…16 rows are computed on this CPU, and why.
type RowChoice struct {
	Version  int            `json:"version"`
	CPU      string         `json:"cpu"`     // model name and a hash of the feature flags
	ISA      string         `json:"isa"`     // the implementation measured
	Workers  int            `json:"workers"` // the pool size measured with
	Shape    [2]int         `json:"shape"`   // n, k of the measured bf16 weights (fp32: n/2, the same bytes)
	Measured time.Time      `json:"measured"`
	Products []ProductPaths `json:"products"`
	// Packed names the packed GEMM kernel chosen (products of more rows, training), and
	// PackedSeconds the time of each candidate on the shapes of measurePacked.
	Packed        string             `json:"packed"`
	PackedSeconds map[string]float64 `json:"packed_seconds"`
	// PackedBF16 and PackedBF16Seconds are the same for bf16 weights (Linear's products of more
	// than MaxFewRows rows), where the candidates include the VDPBF16PS kernel.
	PackedBF16        string             `json:"packed_bf16"`
	PackedBF16Seconds map[string]float64 `json:"packed_bf16_seconds"`

	// Source says where the choice came from: the file read, or why it was measured afresh.
	Source string `json:"-"`
}

// ProductPaths is the chosen path for one weight type and row count, with the time of every
// path the choice compared (seconds per product on the measured shape).
type ProductPaths struct {
	Weights      string             `json:"weights"` // "bf16" or "f32"
	Rows         int                `json:"rows"`
	Path         string             `json:"path"`
	Seconds      map[string]float64 `json:"seconds"`
	Interpolated bool               `json:"interpolated,omitempty"`
}

// rowTable is a RowChoice turned into the lookup pathFor does.
type rowTable struct {
	paths  [2][MaxFewRows + 1]path // [bf16][m]
	choice *RowChoice
}

// choiceState holds one implementation's table and packed GEMM kernels, loaded at first use.
type choiceState struct {
	once       sync.Once
	table      atomic.Pointer[rowTable]
	packed     atomic.Pointer[isa]
	packedBF16 atomic.Pointer[isa]
}

// pathFor is the path s takes for m rows of bf16 (or fp32) weights: the one-row path up to
// MaxRowwise rows (see choosePaths), the measured one up to MaxFewRows, the packed product beyond.
func (s *isa) pathFor(bf16 bool, m int) path {
	if m > MaxFewRows {
		return pathPacked
	}
	return s.table().paths[b2i(bf16)][m]
}

// table is s's row table, loaded (from the cache, or measured) at first use.
func (s *isa) table() *rowTable {
	t := s.choice.table.Load()
	if t == nil {
		s.choice.once.Do(func() {
			c, _ := loadOrMeasure(s, cacheFile(), os.Getenv("LATENT_KERNELS_REFRESH") == "1", measurePaths)
			s.install(c)
		})
		t = s.choice.table.Load()
	}
	return t
}

// packedISA is the implementation whose packed GEMM kernels s uses: s itself or s.packedAlt,
// as measured (see measurePacked).
func (s *isa) packedISA() *isa {
	if p := s.choice.packed.Load(); p != nil {
		return p
	}
	s.table()
	return s.choice.packed.Load()
}

// packedCandidates are the packed GEMM implementations s can use.
func (s *isa) packedCandidates() []*isa {
	if s.packedAlt == nil {
		return []*isa{s}
	}
	return []*isa{s, s.packedAlt}
}

// packedNamed is s's packed GEMM candidate named name, nil if there is none.
func (s *isa) packedNamed(name string) *isa { return candidateNamed(s.packedCandidates(), name) }

// bf16PackedNamed is s's packed GEMM candidate for bf16 weights named name, nil if there is none.
func (s *isa) bf16PackedNamed(name string) *isa {
	return candidateNamed(s.bf16PackedCandidates(), name)
}

// candidateNamed is the candidate among cands whose GEMM kernel is named name, nil if none is.
func candidateNamed(cands []*isa, name string) *isa {
	for _, p := range cands {
		if p.gemmName == name {
			return p
		}
	}
	return nil
}

// setPacked makes the candidate named name s's packed GEMM, if s has one of that name.
func (s *isa) setPacked(name string) {
	if p := s.packedNamed(name); p != nil {
		s.choice.packed.Store(p)
	}
}

// setPackedBF16 makes the candidate named name s's packed GEMM for bf16 weights, if s has one
// of that name.
func (s *isa) setPackedBF16(name string) {
	if p := s.bf16PackedNamed(name); p != nil {
		s.choice.packedBF16.Store(p)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// install makes c, validated against s (every m = 1…MaxFewRows chosen), the table s uses.
func (s *isa) install(c *RowChoice) {
	t := &rowTable{choice: c} // m = 0 keeps pathGemv: linearPath returns at once
	for _, p := range c.Products {
		q, _ := parsePath(p.Path)
		t.paths[b2i(p.Weights == "bf16")][p.Rows] = q
	}
	s.setPacked(c.Packed)
	s.setPackedBF16(c.PackedBF16)
	s.choice.table.Store(t)
}

// RowPaths returns the choice in use for products with few rows, measuring afresh (and
// rewriting the cache) when refresh is set. It returns nil without assembly kernels. The error
// reports a cache that could not be written; the choice is in use regardless.
func RowPaths(refresh bool) (*RowChoice, error) {
	s := fast
	if s == nil {
		return nil, nil
	}
	if !refresh {
		s.pathFor(false, 1) // loads the choice if nothing has yet
		return s.choice.table.Load().choice, nil
	}
	c, err := loadOrMeasure(s, cacheFile(), true, measurePaths)
	s.install(c)
	return c, err
}

// cacheFile is the cache's path, or "" for none.
func cacheFile() string {
	if f := os.Getenv("LATENT_KERNELS_CACHE"); f != "" {
		if f == "off" {
			return ""
		}
		return f
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "latent", "kernels.json")
}

// loadOrMeasure returns the cached choice in file when it is valid for s (and refresh is not
// set); otherwise a fresh measurement, written to file. The error is only about writing.
func loadOrMeasure(s *isa, file string, refresh bool, measure func(*isa) []ProductPaths) (*RowChoice, error) {
	why := "refresh requested"
	if !refresh {
		c, err := readChoice(s, file)
		if err == nil {
			c.Source = "read from " + file
			return c, nil
		}
		why = err.Error()
	}
	c := &RowChoice{Version: cacheVersion, CPU: cpuKey(), ISA: s.name, Workers: Workers(),
		Measured: time.Now().UTC()}
	c.Shape[0], c.Shape[1] = measureShape(true)
	c.Packed, c.PackedSeconds = measurePacked(s.packedCandidates(), false)
	c.PackedBF16, c.PackedBF16Seconds = measurePacked(s.bf16PackedCandidates(), true)
	s.setPacked(c.Packed) // the row paths' measurement runs the packed products
	s.setPackedBF16(c.PackedBF16)
	c.Products = measure(s)
	c.Source = "measured now (" + why + ")"
	if file == "" {
		return c, nil
	}
	if err := writeChoice(file, c); err != nil {
		return c, err
	}
	c.Source += ", written to " + file
	return c, nil
}

// readChoice reads and validates a cached choice for s.
func readChoice(s *isa, file string) (*RowChoice, error) {
	if file == "" {
		return nil, errors.New("no cache file")
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("no cache yet")
	} else if err != nil {
		return nil, fmt.Errorf("cache unreadable: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c RowChoice
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("cache %s corrupt: %v", file, err)
	}
	if err := c.validFor(s); err != nil {
		return nil, fmt.Errorf("cache %s not for this CPU: %v", file, err)
	}
	return &c, nil
}

// validFor checks that c was measured for s on this CPU and chooses, for both weight types and
// every m = 1…MaxFewRows exactly once, a path s has, the one-row path up to MaxRowwise.
func (c *RowChoice) validFor(s *isa) error {
	switch {
	case c.Version != cacheVersion:
		return fmt.Errorf("version %d, want %d", c.Version, cacheVersion)
	case c.CPU != cpuKey():
		return fmt.Errorf("measured on %q, this is %q", c.CPU, cpuKey())
	case c.ISA != s.name:
		return fmt.Errorf("measured the %q kernels, in use are %q", c.ISA, s.name)
	case c.Workers != Workers():
		return fmt.Errorf("measured with %d workers, now %d", c.Workers, Workers())
	case s.packedNamed(c.Packed) == nil:
		return fmt.Errorf("packed kernel %q is not one of the %s kernels", c.Packed, s.name)
	case s.bf16PackedNamed(c.PackedBF16) == nil:
		return fmt.Errorf("packed bf16 kernel %q is not one of the %s kernels", c.PackedBF16, s.name)
	}
	var seen [2][MaxFewRows + 1]bool
	for _, p := range c.Products {
		q, ok := parsePath(p.Path)
		switch {
		case p.Weights != "bf16" && p.Weights != "f32":
			return fmt.Errorf("unknown weight type %q", p.Weights)
		case p.Rows < 1 || p.Rows > MaxFewRows:
			return fmt.Errorf("rows %d outside 1…%d", p.Rows, MaxFewRows)
		case !ok || !s.runs(q, p.Weights == "bf16"):
			return fmt.Errorf("path %q is not one of the %s kernels", p.Path, s.name)
		case seen[b2i(p.Weights == "bf16")][p.Rows]:
			return fmt.Errorf("%s rows %d chosen twice", p.Weights, p.Rows)
		}
		seen[b2i(p.Weights == "bf16")][p.Rows] = true
	}
	if len(c.Products) != 2*MaxFewRows {
		return fmt.Errorf("%d products, want %d", len(c.Products), 2*MaxFewRows)
	}
	oneRow := map[string]string{}
	for _, p := range c.Products {
		if p.Rows == 1 {
			oneRow[p.Weights] = p.Path
		}
	}
	for _, p := range c.Products {
		if p.Rows <= MaxRowwise && p.Path != oneRow[p.Weights] {
			return fmt.Errorf("%s rows %d take %s, not the one-row path %s", p.Weights, p.Rows, p.Path, oneRow[p.Weights])
		}
	}
	return nil
}

// writeChoice writes c to file atomically (a temporary file in the same folder, renamed).
func writeChoice(file string, c *RowChoice) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("kernels: cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".kernels-*.json")
	if err != nil {
		return fmt.Errorf("kernels: cache: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("kernels: cache: %w", err)
	}
	return nil
}

// cpuKey names this CPU: /proc/cpuinfo's model name and a hash of its flags (elsewhere, the
// architecture and CPU count).
func cpuKey() string {
	name, flags := runtime.GOARCH, fmt.Sprint(runtime.NumCPU())
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() && (name == runtime.GOARCH || flags == fmt.Sprint(runtime.NumCPU())) {
			k, v, _ := strings.Cut(sc.Text(), ":")
			switch strings.TrimSpace(k) {
			case "model name":
				name = strings.TrimSpace(v)
			case "flags":
				flags = strings.TrimSpace(v)
			}
		}
	}
	sum := sha256.Sum256([]byte(flags))
	return name + " flags:" + hex.EncodeToString(sum[:8])
}

// measurePaths times every path s has for measuredRows on bf16 and fp32 weights and chooses
// the fastest for every m = 1…MaxFewRows. After two rounds (so one sample disturbed by other
// load does not drop a path), a path more than pruneFactor times slower than the best at that
// m is not timed again.
func measurePaths(s *isa) []ProductPaths {
	var products []ProductPaths
	for _, bf16 := range []bool{true, false} {
		n, k := measureShape(bf16)
		x := make([]float32, MaxFewRows*k)
		fillPattern(len(x), func(i int, v float32) { x[i] = v })
		out := make([]float32, MaxFewRows*n)
		bt := measureWeights(bf16, n, k)
		best := map[path][]float64{}
		for p := range numPaths {
			if s.runs(p, bf16) {
				best[p] = make([]float64, len(measuredRows))
			}
		}
		for round := range measureRounds {
			for i, m := range measuredRows {
				fastest := 0.0
				for _, times := range best {
					if fastest == 0 || times[i] < fastest {
						fastest = times[i]
					}
				}
				for p, times := range best {
					if round >= 2 && times[i] > pruneFactor*fastest {
						continue
					}
					t := workTime(func() { linearPath(s, p, out, rowMajor(x, k), bt, m, k, n) })
					if times[i] == 0 || t < times[i] {
						times[i] = t
					}
				}
			}
		}
		products = append(products, choosePaths(bf16, best)...)
	}
	return products
}

// pruneFactor: see measurePaths.
const pruneFactor = 2

// workTime returns the seconds fn takes on the pool when it has the cores to itself: the
// process CPU time it uses divided by the worker count (every path splits its work evenly
// over the workers, whose idle wait costs no CPU time), which time slices lost to other
// processes on a shared machine do not inflate the way they inflate wall time. Without a CPU
// clock it is the wall time.
func workTime(fn func()) float64 {
	cpu0 := processCPUTime()
	wall := timeIt(fn)
	if cpu := processCPUTime() - cpu0; cpu > 0 {
		return min(wall, cpu.Seconds()/float64(min(Workers(), runtime.NumCPU())))
	}
	return wall
}

// measureWeights returns n×k weights of small values.
func measureWeights(bf16 bool, n, k int) operand {
	if bf16 {
		w := make([]uint16, n*k)
		fillPattern(len(w), func(i int, v float32) { w[i] = Float32ToBF16(v) })
		return weightsBF16(w, k)
	}
	w := make([]float32, n*k)
	fillPattern(len(w), func(i int, v float32) { w[i] = v })
	return weightsF32(w, k)
}

// fillPattern calls set(i, v) for i < n with v in [-0.5, 0.5) varying with i: the values only
// need to be finite and not all equal.
func fillPattern(n int, set func(i int, v float32)) {
	for i := range n {
		set(i, float32(uint32(i)*2654435761>>20)/4096-0.5)
	}
}

// choosePaths picks, for every m = 1…MaxFewRows, the path with the smallest time, from the best
// times per path at measuredRows, interpolated linearly in m between them; except that every m
// up to MaxRowwise takes one path, the one-row path (see MaxRowwise): the path whose time,
// divided by the best time at that m, averages least over the measured m up to MaxRowwise.
func choosePaths(bf16 bool, best map[path][]float64) []ProductPaths {
	weights := map[bool]string{true: "bf16", false: "f32"}[bf16]
	var out []ProductPaths
	for m := 1; m <= MaxFewRows; m++ {
		pp := ProductPaths{Weights: weights, Rows: m, Seconds: map[string]float64{}}
		var fastest path
		for p := range numPaths {
			times, ok := best[p]
			if !ok {
				continue
			}
			t, exact := interpolate(measuredRows, times, m)
			pp.Interpolated = !exact
			pp.Seconds[p.String()] = t
			if t < pp.Seconds[fastest.String()] || pp.Seconds[fastest.String()] == 0 {
				fastest = p
			}
		}
		pp.Path = fastest.String()
		out = append(out, pp)
	}
	oneRow := oneRowPath(out).String()
	for i := range min(MaxRowwise, MaxFewRows) {
		out[i].Path = oneRow
	}
	return out
}

// oneRowPath is the path whose time over the best one's averages least over the measured m
// up to MaxRowwise (products, for m = 1…, as choosePaths makes them).
func oneRowPath(products []ProductPaths) path {
	score := oneRowScores(products)
	winner, least := path(0), 0.0
	for p := range numPaths {
		if v, ok := score[p.String()]; ok && (least == 0 || v < least) {
			winner, least = p, v
		}
	}
	return winner
}

// oneRowScores returns, per path, its time over the fastest path's averaged over the measured
// m up to MaxRowwise (products, for m = 1…, of one weight type): the score by which oneRowPath
// chooses.
func oneRowScores(products []ProductPaths) map[string]float64 {
	score, count := map[string]float64{}, 0
	for _, m := range measuredRows {
		if m > MaxRowwise || m > len(products) {
			break
		}
		pp := products[m-1]
		fastest := 0.0
		for _, t := range pp.Seconds {
			if fastest == 0 || t < fastest {
				fastest = t
			}
		}
		for name, t := range pp.Seconds {
			score[name] += t / fastest
		}
		count++
	}
	for name := range score {
		score[name] /= float64(count)
	}
	return score
}

// OneRowScores returns, for the weight type ("bf16" or "f32"), each path's time over the
// fastest path's averaged over the measured m up to MaxRowwise: the score by which the path for
// products of up to MaxRowwise rows was chosen (the least wins).
func (c *RowChoice) OneRowScores(weights string) map[string]float64 {
	var products []ProductPaths
	for _, p := range c.Products {
		if p.Weights == weights {
			products = append(products, p)
		}
	}
	slices.SortFunc(products, func(a, b ProductPaths) int { return a.Rows - b.Rows })
	return oneRowScores(products)
}

// interpolate returns y at x from the points (xs[i], ys[i]) (xs increasing, x within them),
// linearly between the neighbours, and whether x is one of xs.
func interpolate(xs []int, ys []float64, x int) (float64, bool) {
	for i := 1; i < len(xs); i++ {
		if x <= xs[i] {
			if x == xs[i-1] {
				return ys[i-1], true
			}
			f := float64(x-xs[i-1]) / float64(xs[i]-xs[i-1])
			return ys[i-1] + f*(ys[i]-ys[i-1]), x == xs[i]
		}
	}
	return ys[len(ys)-1], x == xs[len(xs)-1]
}

// measurePacked times the packed GEMM candidates (where there is more than one) on a
// prefill-like product (64×2048 by 2048×2048) and a training-like one (512×1024 by
// 1024×1024) with fp32 or bf16 weights, round robin, keeping each one's fastest, and returns
// the name of the one with the smallest sum and every candidate's.
func measurePacked(cands []*isa, bf16 bool) (string, map[string]float64) {
	if len(cands) == 1 {
		return cands[0].gemmName, nil
	}
	shapes := [][3]int{{64, 2048, 2048}, {512, 1024, 1024}}
	seconds := map[string]float64{}
	for _, shape := range shapes {
		m, k, n := shape[0], shape[1], shape[2]
		x, out := make([]float32, m*k), make([]float32, m*n)
		fillPattern(len(x), func(i int, v float32) { x[i] = v })
		w := measureWeights(bf16, n, k)
		best := make([]float64, len(cands))
		for range measureRounds {
			for j, p := range cands {
				t := workTime(func() {
					if p.parts > 0 {
						gemmDP(p, out, x, w.bf16, m, k, n)
					} else {
						gemmOn(p, out, n, m, n, k, rowMajor(x, k), w, false)
					}
				})
				if best[j] == 0 || t < best[j] {
					best[j] = t
				}
			}
		}
		for j, p := range cands {
			seconds[p.gemmName] += best[j]
		}
	}
	winner := cands[0]
	for _, p := range cands[1:] {
		if seconds[p.gemmName] < seconds[winner.gemmName] {
			winner = p
		}
	}
	return winner.gemmName, seconds
}
