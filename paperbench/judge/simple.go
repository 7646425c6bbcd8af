package judge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/submission"
)

// Settings of the official SimpleJudge.
const (
	bufferTokens     = 10_000 // context kept free for the prompts' own text and the answer
	fileBudgetMargin = 2_000  // further tokens kept free when adding files
	maxRankedFiles   = 10     // files read per leaf
	maxFileDepth     = 4      // folder depth of the file tree when the whole tree does not fit
	reserveTokens    = 5_000  // kept free when the paper and the log together overflow the context
)

// MinContextWindow is the smallest context window, in tokens, the simple judge accepts: the
// prompts, the answer and the reserve take 15,000 tokens, and at least as many again must be
// left for the paper, the log and the files.
const MinContextWindow = 2 * (bufferTokens + reserveTokens)

// Files the reproduction leaves at the top of the submission.
const (
	reproduceScript   = "reproduce.sh"
	reproduceLog      = "reproduce.log"
	reproduceStarted  = "reproduce.log.creation_time" // Unix seconds, written before the run
	doesNotExist      = "(Does not exist)"
	noAddendum        = "(NO ADDENDUM GIVEN)"
	untouchedExplains = "reproduce.sh created or modified no files, so there are no reproduced results to analyse."
)

// SimpleConfig configures [NewSimple].
type SimpleConfig struct {
	Client        *llm.Client // the judge model's endpoint: file ranking and grading
	ParseModel    string      // the model that turns the verdict into JSON; "" for the client's
	Paper         string      // paper.md
	Addendum      string      // addendum.md
	JudgeAddendum string      // judge.addendum.md
	Submission    *submission.Dir
	CodeOnly      bool // PaperBench Code-Dev: no reproduce.sh or reproduce.log in the prompts
	// MaxPriorNodes caps the preceding criteria shown with a leaf (0: all). The official
	// judge uses 5 for the pinn paper.
	MaxPriorNodes int
	ContextWindow int              // tokens; 0 for [ContextWindow] of the model
	Prices        map[string]Price // nil for [DefaultPrices]
	// Now gives the reproduction's start when the submission records none (no
	// reproduce.log.creation_time or reproduce.log); nil for time.Now.
	Now func() time.Time
}

// Simple is the official SimpleJudge. Build it with [NewSimple].
type Simple struct {
	cfg                   SimpleConfig
	tokens                *Tokens
	model                 string
	addendum              string
	paper, script, log    string
	started               time.Time
	touched               bool // the reproduction created or modified a Result Analysis file
	views                 map[string]view
	skipped               []submission.Skipped
	fingerprint           string
	fileTokens, textCache sync.Map
}

// view is what the judge shows of the submission for one task category.
type view struct {
	paths     []string // the files it may read
	tree      string   // their tree, cut to the context when needed
	available int      // context tokens left for files
}

// NewSimple reads and measures everything the leaves share: the paper and addenda, the
// submission's reproduce.sh and reduced reproduce.log, and its file tree per task
// category, cut to the model's context as the official judge does.
func NewSimple(cfg SimpleConfig) (*Simple, error) {
	if cfg.Client == nil || cfg.Submission == nil {
		return nil, errors.New("judge: the simple judge needs a client and a submission")
	}
	if cfg.ParseModel == "" {
		cfg.ParseModel = cfg.Client.Model()
	}
	if cfg.Prices == nil {
		cfg.Prices = DefaultPrices
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ContextWindow <= 0 {
		cfg.ContextWindow = ContextWindow(cfg.Client.Model())
	}
	if cfg.ContextWindow < MinContextWindow {
		return nil, fmt.Errorf("judge: a context window of %d tokens leaves no room for the paper: want at least %d", cfg.ContextWindow, MinContextWindow)
	}
	s := &Simple{cfg: cfg, model: cfg.Client.Model(), tokens: NewTokens(cfg.Client.Model()), paper: cfg.Paper}
	s.addendum = strings.TrimSpace(cfg.Addendum + "\n" + cfg.JudgeAddendum)
	if s.addendum == "" {
		s.addendum = noAddendum
	}
	files, skipped, err := cfg.Submission.Files(-1, skipDir)
	if err != nil {
		return nil, err
	}
	s.skipped = skipped
	s.readReproduction(files)
	paperTokens, logTokens := s.fitContext()
	s.views = map[string]view{}
	for _, category := range []string{rubric.CodeDevelopment, rubric.CodeExecution, rubric.ResultAnalysis, rubric.Subtree} {
		reserved := paperTokens
		if category != rubric.CodeDevelopment {
			reserved += logTokens
		}
		s.views[category] = s.makeView(category, files, cfg.ContextWindow-reserved-bufferTokens)
	}
	for _, f := range files {
		s.touched = s.touched || visible(rubric.ResultAnalysis, f, s.started) && !f.ModTime.Before(s.started)
	}
	s.fingerprint = s.makeFingerprint(files)
	return s, nil
}

// readReproduction reads reproduce.sh, the reduced reproduce.log and the time the
// reproduction started: reproduce.log.creation_time, else reproduce.log's modification
// time, else now (then no file counts as touched by it).
func (s *Simple) readReproduction(files []submission.File) {
	s.script = s.readOr(reproduceScript, doesNotExist)
	s.log = doesNotExist
	s.started = s.cfg.Now()
	for _, f := range files {
		if f.Path == reproduceLog {
			s.log = ReduceLog(s.readOr(reproduceLog, doesNotExist))
			s.started = f.ModTime
		}
	}
	if t, err := s.cfg.Submission.ReadText(reproduceStarted, 64); err == nil {
		if secs, err := strconv.ParseInt(strings.TrimSpace(t.Content), 10, 64); err == nil {
			s.started = time.Unix(secs, 0)
		}
	}
}

// readOr returns the text of a submission file, or absent when it does not exist.
func (s *Simple) readOr(name, absent string) string {
	t, err := s.cfg.Submission.ReadText(name, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return absent
	case err != nil:
		return fmt.Sprintf("(could not be read: %v)", err)
	}
	return t.Content
}

// fitContext cuts the log to half the context, then the log and if need be the paper until
// both fit with reserveTokens to spare (the official _truncate_input), and returns their
// token counts.
func (s *Simple) fitContext() (paperTokens, logTokens int) {
	n := s.cfg.ContextWindow
	logTokens = s.tokens.Count(s.log)
	if logTokens > n/2 {
		s.log, logTokens = s.cut(s.log, n/2)
	}
	paperTokens = s.tokens.Count(s.paper)
	if paperTokens+logTokens > n {
		s.log, logTokens = s.cut(s.log, n-paperTokens-reserveTokens)
	}
	if paperTokens+logTokens > n {
		s.paper, paperTokens = s.cut(s.paper, n-logTokens-reserveTokens)
	}
	return paperTokens, logTokens
}

func (s *Simple) cut(text string, tokens int) (string, int) {
	text = s.tokens.Truncate(text, tokens)
	return text, s.tokens.Count(text)
}

// makeView selects the files a category sees and draws their tree; a tree that does not
// fit in the available context is drawn again to maxFileDepth folders, then cut.
func (s *Simple) makeView(category string, files []submission.File, available int) view {
	var all, shallow []string
	for _, f := range files {
		if visible(category, f, s.started) {
			all = append(all, f.Path)
			if strings.Count(f.Path, "/") <= maxFileDepth {
				shallow = append(shallow, f.Path)
			}
		}
	}
	v := view{paths: all, tree: fileTree(all), available: available}
	if s.tokens.Count(v.tree) < available {
		return v
	}
	v.paths, v.tree = shallow, fileTree(shallow)
	if s.tokens.Count(v.tree) >= available {
		v.tree = s.tokens.Truncate(v.tree, available)
	}
	return v
}

func (s *Simple) makeFingerprint(files []submission.File) string {
	h := sha256.New()
	fmt.Fprintf(h, "model=%s parse=%s code-only=%v prior=%d ctx=%d\n", s.model, s.cfg.ParseModel,
		s.cfg.CodeOnly, s.cfg.MaxPriorNodes, s.cfg.ContextWindow)
	for _, text := range []string{s.paper, s.addendum, s.script, s.log} {
		fmt.Fprintf(h, "%d:%s", len(text), text)
	}
	for _, f := range files {
		fmt.Fprintf(h, "%s %d %d\n", f.Path, f.Size, f.ModTime.UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Type returns "simple".
func (s *Simple) Type() string { return "simple" }

// Fingerprint identifies the model, the settings, the paper and the submission.
func (s *Simple) Fingerprint() string { return s.fingerprint }

// Skipped returns the submission entries that the judge could not read (links outside
// the submission, dangling links, special files).
func (s *Simple) Skipped() []submission.Skipped { return s.skipped }

// ReproductionStarted returns the time the reproduction is taken to have started.
func (s *Simple) ReproductionStarted() time.Time { return s.started }

// leafMetadata is the judge_metadata of a leaf graded by the model.
type leafMetadata struct {
	FullJudgeResponse string   `json:"full_judge_response"`
	TokenUsage        Usage    `json:"token_usage"`
	CostUSD           float64  `json:"cost_usd"`
	Files             []string `json:"files"`
}

// GradeLeaf grades one leaf with up to three calls: rank the files, grade, parse.
func (s *Simple) GradeLeaf(ctx context.Context, root *rubric.Node, p rubric.Path) LeafResult {
	usage := Usage{}
	r, meta := s.gradeLeaf(ctx, root, p, usage)
	r.Usage = usage
	r.Cost, _ = usage.Cost(s.cfg.Prices)
	if meta != nil {
		meta.TokenUsage, meta.CostUSD = usage, r.Cost
		r.Metadata = compactJSON(meta)
	}
	return r
}

// gradeLeaf grades the leaf, adding the tokens it spends to usage; it returns metadata
// when the model gave a verdict.
func (s *Simple) gradeLeaf(ctx context.Context, root *rubric.Node, p rubric.Path, usage Usage) (LeafResult, *leafMetadata) {
	node, err := root.At(p)
	if err != nil {
		return failed(err, false), nil
	}
	if node.TaskCategory == rubric.ResultAnalysis && !s.touched {
		return LeafResult{Verdict: Verdict{Valid: true, Score: 0, Explanation: untouchedExplains}}, nil
	}
	v, ok := s.views[node.TaskCategory]
	if !ok {
		v = s.views[rubric.Subtree]
	}
	ranking, err := s.call(ctx, llm.Request{Messages: s.rankingMessages(node, v)}, usage)
	if err != nil {
		return failed(fmt.Errorf("file ranking: %w", err), true), nil
	}
	files, shown := s.filesBlock(ParseRanking(ranking, v.paths, maxRankedFiles), v.available-fileBudgetMargin)
	prior, err := rubric.PriorNodes(root, p, s.cfg.MaxPriorNodes)
	if err != nil {
		return failed(err, false), nil
	}
	answer, err := s.call(ctx, llm.Request{Messages: s.gradingMessages(node, files, prior)}, usage)
	if err != nil {
		return failed(fmt.Errorf("grading: %w", err), true), nil
	}
	return s.parseVerdict(ctx, answer, node.TaskCategory == rubric.Subtree, usage),
		&leafMetadata{FullJudgeResponse: answer, Files: shown}
}

// parseVerdict turns the written verdict into a structured one with the parse model.
func (s *Simple) parseVerdict(ctx context.Context, answer string, continuous bool, usage Usage) LeafResult {
	if strings.TrimSpace(answer) == "" {
		return LeafResult{Verdict: Verdict{Explanation: "the judge gave an empty answer"}}
	}
	parsed, err := s.call(ctx, llm.Request{
		Model:    s.cfg.ParseModel,
		Messages: []llm.Message{{Role: llm.System, Content: parsePrompt(continuous)}, {Role: llm.User, Content: answer}},
		Schema:   &llm.Schema{Name: "judge_verdict", Schema: verdictSchema(continuous)},
	}, usage)
	if err != nil {
		return failed(fmt.Errorf("parsing the verdict: %w", err), true)
	}
	v, err := ParseVerdict(parsed, continuous)
	if err != nil {
		return LeafResult{Verdict: Verdict{Explanation: "the judge's verdict could not be parsed: " + err.Error()}}
	}
	return LeafResult{Verdict: v}
}

// call makes one request and counts its tokens: as the server reports them, or counted
// with the model's tokenizer when it reports none.
func (s *Simple) call(ctx context.Context, req llm.Request, usage Usage) (string, error) {
	resp, err := s.cfg.Client.Complete(ctx, req)
	if err != nil {
		return "", err
	}
	if !resp.Reported {
		resp.Usage = llm.Usage{Out: int64(s.tokens.Count(resp.Content))}
		for _, m := range req.Messages {
			resp.Usage.In += int64(s.countCached(m.Content)) + 4 // 4: the message's framing
		}
	}
	usage.Add(resp.Model, resp.Usage)
	return resp.Content, nil
}

// countCached counts tokens, remembering long texts (the paper is sent with every leaf).
func (s *Simple) countCached(text string) int {
	if len(text) < 4096 {
		return s.tokens.Count(text)
	}
	if n, ok := s.textCache.Load(text); ok {
		return n.(int)
	}
	n := s.tokens.Count(text)
	s.textCache.Store(text, n)
	return n
}

func (s *Simple) rankingMessages(node *rubric.Node, v view) []llm.Message {
	return []llm.Message{
		{Role: llm.System, Content: rankingRole},
		{Role: llm.User, Content: paperMessage(s.paper)},
		{Role: llm.User, Content: addendumMessage(s.addendum)},
		{Role: llm.User, Content: criterionOnlyMessage(node.Requirements)},
		{Role: llm.User, Content: rankingRequest(v.tree, maxRankedFiles)},
	}
}

func (s *Simple) gradingMessages(node *rubric.Node, files string, prior []*rubric.Node) []llm.Message {
	msgs := []llm.Message{
		{Role: llm.System, Content: systemPrompt(s.cfg.CodeOnly)},
		{Role: llm.User, Content: paperMessage(s.paper)},
		{Role: llm.User, Content: addendumMessage(s.addendum)},
		{Role: llm.User, Content: filesMessage(node.TaskCategory, files)},
	}
	if !s.cfg.CodeOnly {
		msgs = append(msgs, llm.Message{Role: llm.User, Content: reproduceScriptMessage(s.script)})
		if node.TaskCategory != rubric.CodeDevelopment {
			msgs = append(msgs, llm.Message{Role: llm.User, Content: reproduceLogMessage(s.log)})
		}
	}
	return append(msgs,
		llm.Message{Role: llm.User, Content: criterionMessage(prior, node)},
		llm.Message{Role: llm.User, Content: gradingRequest(node.TaskCategory == rubric.Subtree)})
}

// filesBlock concatenates the ranked files within budget tokens; the file that overflows
// is cut, ending on a whole line. It returns the text and the files shown. Files that
// cannot be read (binary, vanished) are left out.
func (s *Simple) filesBlock(ranked []string, budget int) (string, []string) {
	var b strings.Builder
	var shown []string
	used := 0
	for _, p := range ranked {
		t, err := s.cfg.Submission.ReadText(p, 0)
		if err != nil {
			continue
		}
		piece := formatFile(p, t.Content) + "\n\n"
		n := s.fileTokenCount(p, piece)
		shown = append(shown, p)
		if used+n > budget {
			b.WriteString(s.tokens.Truncate(piece, budget-used))
			return completeLines(b.String()), shown
		}
		b.WriteString(piece)
		used += n
	}
	return strings.TrimRight(b.String(), "\n"), shown
}

// fileTokenCount counts a formatted file's tokens once per file.
func (s *Simple) fileTokenCount(p, piece string) int {
	if n, ok := s.fileTokens.Load(p); ok {
		return n.(int)
	}
	n := s.tokens.Count(piece)
	s.fileTokens.Store(p, n)
	return n
}
