package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
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
	m          *model.Model
	tok        *tokenizer.Tokenizer
	template   *tokenizer.ChatTemplate
	opt        generate.Options
	system     string
	history    []tokenizer.Message // the conversation, starting with the system message if any
	out        io.Writer
	color      bool
	interrupts <-chan os.Signal // Ctrl-C: stops a reply; at the prompt, ends the chat
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
		Long: `Chat talks with a language model folder (with tokenizer.json and a chat template). Slash
commands change the settings between turns and are named like the flags: /steps N, /max-new N,
/exit CRITERION [THRESHOLD], /exit off, /temperature T, /top-k K, /top-p P, /min-p M, /seed N,
/system TEXT, /greedy; and /history, /reset, /help, /quit. Each value is checked when typed.
Ctrl-C during a reply stops it and keeps the conversation; Ctrl-C at the prompt (or Ctrl-D)
ends the chat. When the conversation outgrows the model's context, the oldest turns are dropped,
with a notice; the system message is kept.`,
		Example: `  latent chat --model ~/models/huginn-0125-bf16
  latent chat --model ~/models/huginn-0125-bf16 --steps 16 --system "You are terse."
  (in the chat: /steps 32, /exit kl, /temperature 0.7, /help, /quit)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt := generate.Options{Steps: steps, MaxNew: maxNew, Seed: seed, Sampling: generate.Sampling{Temperature: temperature}}
			if exit != "" {
				opt.Exit = &generate.ExitOptions{Criterion: exit}
			}
			s, err := newChatSession(dir, system, os.Stdout)
			if err != nil {
				return err
			}
			defer s.m.Close()
			if err := s.set(opt); err != nil {
				return err
			}
			interrupts := make(chan os.Signal, 1)
			signal.Notify(interrupts, os.Interrupt)
			defer signal.Stop(interrupts)
			s.interrupts = interrupts
			return s.loop(os.Stdin)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "model", "", "model folder with tokenizer.json and tokenizer_config.json")
	f.StringVar(&system, "system", "You are a helpful assistant.", "system message (empty: none)")
	stepsVar(f, &steps, "steps", 0, "recurrences per token (default: the config's mean_recurrence)")
	f.IntVar(&maxNew, "max-new", defaultMaxNew, "tokens per reply at most")
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
	s := &chatSession{m: m, tok: tok, template: tmpl, system: system, out: out,
		color: out == os.Stdout && st != nil && st.Mode()&os.ModeCharDevice != 0}
	s.reset()
	return s, nil
}

// reset starts a new conversation: the system message only.
func (s *chatSession) reset() {
	s.history = nil
	if s.system != "" {
		s.history = []tokenizer.Message{{Role: "system", Content: s.system}}
	}
}

// set checks generation options the way a request checks them (steps, max-new within the
// context, sampling, exit criterion) and, when they pass, makes them the session's.
func (s *chatSession) set(opt generate.Options) error {
	if _, err := generate.New(s.m, []int{0}, opt); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "generate: "))
	}
	s.opt = opt
	return nil
}

const chatHelp = `commands: /steps N · /max-new N · /exit CRITERION [THRESHOLD] · /exit off · /temperature T ·
          /top-k K · /top-p P · /min-p M · /seed N · /greedy · /system TEXT · /history · /reset ·
          /help · /quit      Ctrl-C stops a reply; Ctrl-C at the prompt quits`

// loop reads the user's lines and answers them until /quit, end of input or Ctrl-C at the prompt.
func (s *chatSession) loop(in io.Reader) error {
	fmt.Fprintln(s.out, chatHelp)
	done := make(chan struct{})
	defer close(done)
	lines, readErr := readLines(in, done)
	for {
		fmt.Fprint(s.out, "\n> ")
		line, ok := s.next(lines)
		if !ok { // the end of input (its error, if any, is waiting) or Ctrl-C
			fmt.Fprintln(s.out)
			select {
			case err := <-readErr:
				return err
			default:
				return nil
			}
		}
		line = strings.TrimSpace(line)
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

// readLines sends the lines of in on a channel, closed at the end, and then its error; it
// stops sending once done is closed.
func readLines(in io.Reader, done <-chan struct{}) (<-chan string, <-chan error) {
	lines, errc := make(chan string), make(chan error, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
		errc <- sc.Err()
	}()
	return lines, errc
}

// next waits for the user's next line; false at the end of input or on Ctrl-C, which wins
// over a line typed ahead.
func (s *chatSession) next(lines <-chan string) (string, bool) {
	if s.interrupted() {
		return "", false
	}
	select {
	case line, ok := <-lines:
		return line, ok
	case <-s.interrupts:
		return "", false
	}
}

// interrupted reports whether Ctrl-C was pressed since the last look.
func (s *chatSession) interrupted() bool {
	select {
	case <-s.interrupts:
		return true
	default:
		return false
	}
}

// chatRenamed are the old slash commands, now named like the flags.
var chatRenamed = map[string]string{"/temp": "/temperature", "/topk": "/top-k", "/topp": "/top-p", "/minp": "/min-p"}

// command applies one slash command, checked before it changes anything.
func (s *chatSession) command(line string) error {
	name, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	opt := s.opt
	switch name {
	case "/help":
		fmt.Fprintln(s.out, chatHelp)
	case "/reset":
		s.reset()
	case "/history":
		for _, msg := range s.history {
			fmt.Fprintf(s.out, "[%s] %s\n", msg.Role, msg.Content)
		}
	case "/system":
		s.system = rest
		s.reset()
		fmt.Fprintln(s.out, "new conversation with this system message")
	case "/greedy":
		opt.Sampling = generate.Sampling{}
		return s.set(opt)
	case "/exit":
		return s.setExit(strings.Fields(rest))
	case "/steps", "/max-new", "/top-k", "/seed", "/temperature", "/top-p", "/min-p":
		if err := setNumber(&opt, name, rest); err != nil {
			return err
		}
		return s.set(opt)
	default:
		if renamed, ok := chatRenamed[name]; ok {
			return fmt.Errorf("unknown command %s: the commands are named like the flags, use %s", name, renamed)
		}
		return fmt.Errorf("unknown command %s (/help lists them)", name)
	}
	return nil
}

// setNumber parses the value of a numeric slash command into opt: an integer for /steps,
// /max-new, /top-k and /seed, a number for the others.
func setNumber(opt *generate.Options, name, value string) error {
	if value == "" {
		return fmt.Errorf("%s needs a value", name)
	}
	ints := map[string]*int{"/steps": &opt.Steps, "/max-new": &opt.MaxNew, "/top-k": &opt.Sampling.TopK}
	if p, ok := ints[name]; ok {
		v, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("%s %q: want an integer", name, value)
		}
		*p = v
		return nil
	}
	if name == "/seed" {
		v, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return fmt.Errorf("/seed %q: want a non-negative integer", value)
		}
		opt.Seed = v
		return nil
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return fmt.Errorf("%s %q: want a number", name, value)
	}
	*map[string]*float64{"/temperature": &opt.Sampling.Temperature, "/top-p": &opt.Sampling.TopP, "/min-p": &opt.Sampling.MinP}[name] = v
	return nil
}

func (s *chatSession) setExit(args []string) error {
	opt := s.opt
	opt.Exit = nil
	if len(args) > 0 && args[0] != "off" {
		opt.Exit = &generate.ExitOptions{Criterion: args[0]}
		if len(args) > 1 {
			v, err := strconv.ParseFloat(args[1], 64)
			if err != nil {
				return fmt.Errorf("/exit threshold %q: want a number", args[1])
			}
			opt.Exit.Threshold = &v
		}
	}
	return s.set(opt)
}

// reply renders the conversation with the new user message, streams the model's answer and
// prints the steps each token took as a compact strip. Ctrl-C stops the answer; what was said
// so far stays in the conversation.
func (s *chatSession) reply(user string) error {
	messages := append(slices.Clone(s.history), tokenizer.Message{Role: "user", Content: user})
	messages, prompt, err := s.fit(messages)
	if err != nil {
		return err
	}
	g, err := generate.New(s.m, prompt, s.opt)
	if err != nil {
		return err
	}
	dec := s.tok.NewStreamDecoder()
	var answer strings.Builder
	var steps []int
	stopped := false
	for t, err := range g.Tokens() {
		if err != nil {
			return err
		}
		steps = append(steps, t.Steps)
		if !s.tok.IsSpecial(t.ID) {
			piece := dec.Add(t.ID)
			answer.WriteString(piece)
			fmt.Fprint(s.out, piece)
		}
		if stopped = s.interrupted(); stopped {
			break
		}
	}
	rest := dec.Flush()
	answer.WriteString(rest)
	fmt.Fprintln(s.out, rest)
	if stopped {
		fmt.Fprintln(s.out, "  [reply stopped by Ctrl-C; the conversation is kept — Ctrl-C at the prompt quits]")
	}
	s.printSteps(steps)
	s.history = append(messages, tokenizer.Message{Role: "assistant", Content: answer.String()})
	return nil
}

// fit renders messages and, while the prompt and a full reply do not fit in the model's
// context, drops the oldest turn after the system message, saying so. A last message that does
// not fit on its own is an error.
func (s *chatSession) fit(messages []tokenizer.Message) ([]tokenizer.Message, []int, error) {
	first := 0
	if len(messages) > 0 && messages[0].Role == "system" {
		first = 1
	}
	dropped := 0
	for {
		text, err := s.template.Render(messages, true)
		if err != nil {
			return nil, nil, err
		}
		prompt := s.tok.Encode(text, false)
		room := s.m.Config.BlockSize - s.opt.MaxNew
		if len(prompt) <= room {
			if dropped > 0 {
				fmt.Fprintf(s.out, "  [context full: dropped the %d oldest message(s); /history shows what is kept]\n", dropped)
			}
			return messages, prompt, nil
		}
		if len(messages)-first <= 1 {
			return nil, nil, fmt.Errorf("the message takes %d tokens with the system message, but the context of %d holds %d besides a reply of up to %d (/max-new); shorten it or lower /max-new",
				len(prompt), s.m.Config.BlockSize, room, s.opt.MaxNew)
		}
		n := 1 // a user message and the reply that followed it, when there is one
		if len(messages)-first > 2 && messages[first+1].Role == "assistant" {
			n = 2
		}
		messages = slices.Delete(messages, first, first+n)
		dropped += n
	}
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
