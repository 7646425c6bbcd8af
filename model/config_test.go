package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

func TestHuginnConfigParameterCount(t *testing.T) {
	cfg, err := LoadConfig(fixtures.Path(t, "huginn-0125", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	// 3,564,976,800 parameters: the figure the official model card and an independent count give.
	if got := cfg.ParameterCount(); got != 3564976800 {
		t.Fatalf("parameter count %d, want 3564976800", got)
	}
	if cfg.HeadSize() != 96 || cfg.EmbedScale() != float32(72.6636084983398) {
		t.Fatalf("head size %d, embed scale %v", cfg.HeadSize(), cfg.EmbedScale())
	}
}

func TestConfigRoundTripKeepsUnknownKeys(t *testing.T) {
	cfg, err := BuiltinConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	data, err := cfg.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"architectures", "auto_map", "model_type", "n_embd", "init_values"} {
		if _, ok := m[key]; !ok {
			t.Errorf("key %q lost in round trip", key)
		}
	}
	again, err := ParseConfig(data, "round trip")
	if err != nil {
		t.Fatal(err)
	}
	if again.ParameterCount() != cfg.ParameterCount() {
		t.Fatal("round trip changed the shape")
	}
}

func TestConfigErrorsListEveryProblem(t *testing.T) {
	bad := `{"n_embd": 65, "n_heads": 2, "intermediate_size": 0, "n_layers_in_recurrent_block": 1,
		"padded_vocab_size": 8, "vocab_size": 9, "block_size": 16, "rope_base": 0, "norm_eps": 1e-6}`
	_, err := ParseConfig([]byte(bad), "bad.json")
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"bad.json", "intermediate_size", "not a multiple of n_heads", "vocab_size 9 exceeds", "rope_base"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := ParseConfig([]byte(`{"n_embd": "x"}`), "x.json"); err == nil || !strings.Contains(err.Error(), "x.json") {
		t.Errorf("malformed JSON: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	tiny, _ := builtinConfigs.ReadFile("configs/tiny.json")
	f.Add(tiny)
	f.Add([]byte(`{"n_embd": 64, "n_heads": 0}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, "fuzz")
		if err != nil {
			return
		}
		// A config that validates must give consistent, non-negative sizes.
		if cfg.HeadSize()*cfg.NHeads != cfg.NEmbd || cfg.ParameterCount() <= 0 {
			t.Fatalf("inconsistent accepted config: %+v", cfg)
		}
	})
}

func TestParseStrategy(t *testing.T) {
	good := map[string]Strategy{
		"full":                   {Lookup: LookupFull},
		"latest-m4":              {Lookup: LookupLatest},
		"available-m4":           {Lookup: LookupAvailable},
		"always-last-m4":         {Lookup: LookupAlwaysLast},
		"skip":                   {Lookup: LookupSkip},
		"compress-s8":            {Lookup: LookupNoneRequired, Compression: CompressModulo, K: 8},
		"compress-r4":            {Lookup: LookupNoneRequired, Compression: CompressRange, K: 4},
		"compress-anchor":        {Lookup: LookupNoneRequired, Compression: CompressAnchor},
		"latest-m4-compress-s16": {Lookup: LookupLatest, Compression: CompressModulo, K: 16},
	}
	for name, want := range good {
		got, err := ParseStrategy(name)
		want.Name = name
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", name, got, err, want)
		}
	}
	for _, name := range []string{"", "latest", "compress-s0", "compress-sx", "compress-q4", "full-compress-", "latest-m4-compress-s-1"} {
		if _, err := ParseStrategy(name); err == nil {
			t.Errorf("%q: want an error", name)
		}
	}
}

// TestCompressionSlots checks the slot folding of the reference for Huginn's 2 prelude and 4 core
// blocks: compress-s8 maps 2 + (i−2) mod 8, compress-r4 2 + (i−2) div 4, anchor keeps 8 recurrences.
func TestCompressionSlots(t *testing.T) {
	cfg := &Config{NEmbd: 8, NLayersPrelude: 2, NLayersCore: 4}
	cases := []struct {
		strategy string
		in, want int
	}{
		{"compress-s8", 1, 1}, {"compress-s8", 9, 9}, {"compress-s8", 10, 2}, {"compress-s8", 33, 9},
		{"compress-r4", 5, 2}, {"compress-r4", 6, 3}, {"compress-anchor", 33, 33}, {"compress-anchor", 34, 34},
		{"compress-anchor", 38, 34}, {"compress-anchor", 41, 37}, {"compress-s8", -1, -1},
	}
	for _, c := range cases {
		cache, err := NewCache(cfg, c.strategy)
		if err != nil {
			t.Fatal(err)
		}
		if got := cache.compress(c.in); got != c.want {
			t.Errorf("%s: slot %d → %d, want %d", c.strategy, c.in, got, c.want)
		}
	}
}

// TestLatestLookupReadsDeepestSameLayer builds a cache where position 0 ran 2 recurrences and
// position 1 ran 3, then checks where a third token's step-3 attention reads each key from.
func TestLatestLookupReadsDeepestSameLayer(t *testing.T) {
	cfg := &Config{NEmbd: 1, NLayersPrelude: 2, NLayersCore: 4}
	row := func(v float32) [][]float32 { return [][]float32{{v}} }
	for _, tc := range []struct {
		strategy string
		want     []float32 // key values read for positions 0, 1, 2 at slot 14 (recurrence 3, layer 0)
	}{
		{"latest-m4", []float32{6, 10, 14}},
		{"skip", []float32{14}},
		{"always-last-m4", []float32{6, 10, 14}},
	} {
		c, _ := NewCache(cfg, tc.strategy)
		for pos, steps := range []int{2, 3} {
			c.Update(0, pos, row(0), row(0))
			for t := 0; t < steps; t++ {
				slot := c.CoreSlot(t, 0)
				c.Update(slot, pos, row(float32(slot)), row(float32(slot)))
			}
		}
		c.Update(0, 2, row(0), row(0))
		for step := 0; step < 3; step++ {
			c.Update(c.CoreSlot(step, 0), 2, row(float32(c.CoreSlot(step, 0))), row(0))
		}
		keys, _ := c.Update(c.CoreSlot(3, 0), 2, row(14), row(14))
		var got []float32
		for _, k := range keys {
			got = append(got, k[0])
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: read %v, want %v", tc.strategy, got, tc.want)
		}
	}
	c, _ := NewCache(cfg, "compress-s8")
	c.Update(0, 0, row(0), row(0))
	c.Update(0, 1, row(0), row(0))
	c.Update(2, 1, row(2), row(2))
	if c.Err() == nil {
		t.Error("compress-s8 without a lookup must fail when a position lacks a slot, as the reference does")
	}
}
