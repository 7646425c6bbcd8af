package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tokenizer"
	"github.com/spf13/cobra"
)

// chatSession is the state of an interactive chat: the model, its tokenizer and template, the
// generation settings the user can change with slash commands, and the conversation so far.
type chatSession struct {
	m        *model.Model
	tok      *tokenizer.Tokenizer
	template *tokenizer.ChatTemplate
	opt      generate.Options
	system   string
	history  []tokenizer.Message
	out      io.Writer
	color    bool
}

func init() {
	var (
		dir, system, exit string
		steps, maxNew     int
		temperature       float64
		seed              uint64
	)
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Chat with a model interactively; each token's thinking steps are shown after the reply",
		Example: `  latent chat --model ~/models/huginn-0125-bf16
  latent chat --model ~/models/huginn-0125-bf16 --steps 16 --system "You are terse."
  (in the chat: /steps 32, /exit kl, /temperature 0.7, /help, /quit)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := newChatSession(dir, system, os.Stdout)
			if err != nil {
				return err
			}
			defer s.m.Close()
			s.opt.Steps, s.opt.MaxNew, s.opt.Seed = steps, maxNew, seed
			s.opt.Sampling.Temperature = temperature
			if exit != "" {
				s.opt.Exit = &generate.ExitOptions{Criterion: exit}
			}
			return s.loop(os.Stdin)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "model", "", "model folder with tokenizer.json and tokenizer_config.json")
	f.StringVar(&system, "system", "You are a helpful assistant.", "system message (empty: none)")
	f.IntVar(&steps, "steps", 0, "recurrences per token (0: the config's mean_recurrence)")
	f.IntVar(&maxNew, "max-new", 256, "tokens per reply at most")
	f.StringVar(&exit, "exit", "", "adaptive exit criterion (kl, entropy-diff, latent-diff, cosine, minp-kl, argmax-stability)")
	f.Float64Var(&temperature, "temperature", 0, "sampling temperature (0: greedy)")
	f.Uint64Var(&seed, "seed", 0, "sampling seed")
	cmd.MarkFlagRequired("model")
	rootCmd.AddCommand(cmd)
}

func newChatSession(dir, system string, out io.Writer) (*chatSession, error) {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	tmpl, err := tokenizer.LoadChatTemplate(dir)
	if err != nil {
		return nil, err
	}
	m, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	st, _ := os.Stdout.Stat()
	return &chatSession{m: m, tok: tok, template: tmpl, system: system, out: out,
		color: out == os.Stdout && st != nil && st.Mode()&os.ModeCharDevice != 0}, nil
}

const chatHelp = `commands: /steps N · /exit CRITERION [THRESHOLD] · /exit off · /temp T · /topk K · /topp P ·
          /minp M · /greedy · /history · /reset · /help · /quit`

func (s *chatSession) loop(in io.Reader) error {
	fmt.Fprintln(s.out, chatHelp)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for {
		fmt.Fprint(s.out, "\n> ")
		if !sc.Scan() {
			fmt.Fprintln(s.out)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case line == "/quit":
			return nil
		case strings.HasPrefix(line, "/"):
			if err := s.command(line); err != nil {
				fmt.Fprintln(s.out, "error:", err)
			}
		default:
			if err := s.reply(line); err != nil {
				fmt.Fprintln(s.out, "\nerror:", err)
			}
		}
	}
}

// command applies one slash command to the session's settings.
func (s *chatSession) command(line string) error {
	f := strings.Fields(line)
	arg := func(i int) (float64, error) {
		if len(f) <= i {
			return 0, fmt.Errorf("%s needs a value", f[0])
		}
		return strconv.ParseFloat(f[i], 64)
	}
	var v float64
	var err error
	switch f[0] {
	case "/help":
		fmt.Fprintln(s.out, chatHelp)
	case "/reset":
		s.history = nil
	case "/history":
		for _, msg := range s.history {
			fmt.Fprintf(s.out, "[%s] %s\n", msg.Role, msg.Content)
		}
	case "/greedy":
		s.opt.Sampling = generate.Sampling{}
	case "/exit":
		return s.setExit(f[1:])
	case "/steps", "/temp", "/topk", "/topp", "/minp":
		if v, err = arg(1); err != nil {
			return err
		}
		return s.setNumber(f[0], v)
	default:
		return fmt.Errorf("unknown command %s", f[0])
	}
	return nil
}

func (s *chatSession) setNumber(name string, v float64) error {
	switch name {
	case "/steps":
		if v < 1 || v > 1024 {
			return fmt.Errorf("steps %v must be in [1, 1024]", v)
		}
		s.opt.Steps = int(v)
	case "/temp":
		s.opt.Sampling.Temperature = v
	case "/topk":
		s.opt.Sampling.TopK = int(v)
	case "/topp":
		s.opt.Sampling.TopP = v
	case "/minp":
		s.opt.Sampling.MinP = v
	}
	return nil
}

func (s *chatSession) setExit(args []string) error {
	if len(args) == 0 || args[0] == "off" {
		s.opt.Exit = nil
		return nil
	}
	exit := &generate.ExitOptions{Criterion: args[0]}
	if len(args) > 1 {
		v, err := strconv.ParseFloat(args[1], 64)
		if err != nil {
			return fmt.Errorf("threshold %q: %w", args[1], err)
		}
		exit.Threshold = &v
	}
	if _, err := generate.NewCriterion(exit.Criterion, exit.Threshold, s.m.Config.PaddedVocabSize); err != nil {
		return err
	}
	s.opt.Exit = exit
	return nil
}

// reply renders the conversation with the new user message, streams the model's answer and
// prints the steps each token took as a compact strip.
func (s *chatSession) reply(user string) error {
	messages := append([]tokenizer.Message(nil), s.history...)
	if s.system != "" && len(messages) == 0 {
		messages = append(messages, tokenizer.Message{Role: "system", Content: s.system})
	}
	messages = append(messages, tokenizer.Message{Role: "user", Content: user})
	text, err := s.template.Render(messages, true)
	if err != nil {
		return err
	}
	g, err := generate.New(s.m, s.tok.Encode(text, false), s.opt)
	if err != nil {
		return err
	}
	dec := s.tok.NewStreamDecoder()
	var answer strings.Builder
	var steps []int
	for t, err := range g.Tokens() {
		if err != nil {
			return err
		}
		steps = append(steps, t.Steps)
		if s.tok.IsSpecial(t.ID) {
			continue
		}
		piece := dec.Add(t.ID)
		answer.WriteString(piece)
		fmt.Fprint(s.out, piece)
	}
	rest := dec.Flush()
	answer.WriteString(rest)
	fmt.Fprintln(s.out, rest)
	s.printSteps(steps)
	s.history = append(messages, tokenizer.Message{Role: "assistant", Content: answer.String()})
	return nil
}

// printSteps shows the steps per token as a strip of block characters (taller = more thinking),
// dimmed on a terminal.
func (s *chatSession) printSteps(steps []int) {
	if len(steps) == 0 {
		return
	}
	const bars = "▁▂▃▄▅▆▇█"
	maxSteps, total := 1, 0
	for _, v := range steps {
		maxSteps = max(maxSteps, v)
		total += v
	}
	var strip strings.Builder
	for _, v := range steps {
		strip.WriteRune([]rune(bars)[min(7, v*8/(maxSteps+1))])
	}
	line := fmt.Sprintf("  %d tokens · %.1f steps/token (max %d) %s", len(steps), float64(total)/float64(len(steps)), maxSteps, strip.String())
	if s.color {
		line = "\x1b[2m" + line + "\x1b[0m"
	}
	fmt.Fprintln(s.out, line)
}
