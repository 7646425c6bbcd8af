package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/latentlab/latent/generate"
	"github.com/spf13/pflag"
)

// defaultMaxNew is the one --max-new default of every command that generates.
const defaultMaxNew = 256

// newTokens is the number of tokens to generate after a prompt of promptLen tokens: --max-new
// when it was given (generate.New refuses it beyond the context), else defaultMaxNew cut to the
// room the context leaves.
func newTokens(given bool, maxNew, promptLen, blockSize int) (int, error) {
	if given {
		return maxNew, nil
	}
	if room := blockSize - promptLen; room < maxNew {
		if room < 1 {
			return 0, fmt.Errorf("the prompt takes %d tokens and fills the model's context of %d", promptLen, blockSize)
		}
		return room, nil
	}
	return maxNew, nil
}

// stepsValue is the one type of every recurrence-count flag (--steps, --max-steps, ...): a
// whole number in [1, generate.MaxSteps], checked when the command line is parsed, before any
// work. Its default may be 0, meaning "not given" (the command then picks its own default), but
// 0, negative numbers and numbers beyond the bound are refused when typed.
type stepsValue struct {
	p   *int
	def int
}

// stepsVar defines a recurrence-count flag.
func stepsVar(f *pflag.FlagSet, p *int, name string, def int, usage string) {
	*p = def
	f.Var(&stepsValue{p: p, def: def}, name, usage)
}

func (s *stepsValue) String() string { return strconv.Itoa(*s.p) }
func (s *stepsValue) Type() string   { return "N" }
func (s *stepsValue) reset()         { *s.p = s.def }

func (s *stepsValue) Set(text string) error {
	n, err := parseSteps(text)
	if err != nil {
		return err
	}
	*s.p = n
	return nil
}

// parseSteps reads one recurrence count.
func parseSteps(text string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number of recurrences", text)
	}
	if n < 1 || n > generate.MaxSteps {
		return 0, fmt.Errorf("recurrences must lie in [1, %d], got %d", generate.MaxSteps, n)
	}
	return n, nil
}

// stepsListValue is a comma-separated list of recurrence counts, e.g. --steps 1,2,4,8, each
// bounded as stepsValue is.
type stepsListValue struct {
	p   *[]int
	def []int
}

// stepsListVar defines a flag holding a list of recurrence counts.
func stepsListVar(f *pflag.FlagSet, p *[]int, name string, def []int, usage string) {
	*p = slices.Clone(def)
	f.Var(&stepsListValue{p: p, def: def}, name, usage)
}

func (s *stepsListValue) Type() string { return "N,N,..." }
func (s *stepsListValue) reset()       { *s.p = slices.Clone(s.def) }

func (s *stepsListValue) String() string {
	parts := make([]string, len(*s.p))
	for i, n := range *s.p {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (s *stepsListValue) Set(text string) error {
	var out []int
	for _, part := range strings.Split(text, ",") {
		n, err := parseSteps(part)
		if err != nil {
			return err
		}
		out = append(out, n)
	}
	*s.p = out
	return nil
}
