package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/sandbox"
)

// The official tool names.
const (
	ToolBash          = "bash"
	ToolPython        = "python"
	ToolReadFileChunk = "read_file_chunk"
	ToolSearchFile    = "search_file"
	ToolSubmit        = "submit"
)

// MaxArgumentBytes caps the arguments of one tool call; larger ones are refused with a
// message to the model.
const MaxArgumentBytes = 1 << 20

// maxReadLines is the official cap of read_file_chunk.
const maxReadLines = 50

// maxSearchBytes caps the file search_file reads.
const maxSearchBytes = 64 << 20

func object(props map[string]any, required ...string) map[string]any {
	return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
}

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
func integer(desc string) map[string]any {
	return map[string]any{"type": "integer", "description": desc}
}

var toolSpecs = map[string]llm.ToolSpec{
	ToolBash: {Name: ToolBash, Description: "Run a bash command line in your computer (working folder /home) and " +
		"get its combined output and exit status. Each call is a fresh shell: the working folder and variables do " +
		"not carry over, files and background processes do. To keep a process running after the call (a server, " +
		"a long training run), start it in the background with its output redirected: " +
		"nohup CMD > /home/logs/NAME.log 2>&1 &. A process still writing to the call's output when the call ends " +
		"is stopped, and a call that times out is stopped with everything it started.",
		Parameters: object(map[string]any{"cmd": str("the bash command line")}, "cmd")},
	ToolPython: {Name: ToolPython, Description: "Run a Python 3 program (fed to python3 on its standard input, " +
		"working folder /home) and get its output. No state carries over between calls; print what you need.",
		Parameters: object(map[string]any{"code": str("the Python program")}, "code")},
	ToolReadFileChunk: {Name: ToolReadFileChunk, Description: "Read up to 50 lines of a text file, each prefixed " +
		"with its line number.",
		Parameters: object(map[string]any{
			"file":       str("absolute path of the file"),
			"start_line": integer("first line to read, from 1 (default 1)"),
			"max_lines":  integer("number of lines to read, at most 50 (default 50)"),
		}, "file")},
	ToolSearchFile: {Name: ToolSearchFile, Description: "Find the lines of a text file that contain a phrase " +
		"(case-insensitive), with surrounding lines; results come in pages.",
		Parameters: object(map[string]any{
			"file":          str("absolute path of the file"),
			"query":         str("the phrase to find"),
			"context_lines": integer("lines shown before and after each match (default 2)"),
			"max_matches":   integer("matches per page (default 5)"),
			"page":          integer("page of matches, from 1 (default 1)"),
		}, "file", "query")},
	ToolSubmit: {Name: ToolSubmit, Description: "Say that you are completely finished. This ends your work: call it " +
		"only when nothing more can be done in the time left.",
		Parameters: object(map[string]any{"end_message": str("a final message about what you did")}, "end_message")},
}

// toolNames lists the tools of each agent, in the official order.
var toolNames = map[Kind][]string{
	Basic:     {ToolBash, ToolPython, ToolSearchFile, ToolReadFileChunk, ToolSubmit},
	Iterative: {ToolBash, ToolReadFileChunk, ToolSubmit},
}

// toolResult is what a tool call gives back to the model, with its record.
type toolResult struct {
	content string
	info    ExecInfo
}

// runner executes tool calls in the agent's sandbox.
type runner struct {
	sb          sandbox.Sandbox
	kind        Kind
	timeout     time.Duration // per call
	outputLimit int
}

// refuse is the answer to a call that could not be run.
func refuse(tool, format string, args ...any) toolResult {
	msg := fmt.Sprintf(format, args...)
	return toolResult{content: "Error: " + msg, info: ExecInfo{Tool: tool, ExitCode: -1, Error: msg}}
}

// run executes one non-submit tool call within the time left.
func (r *runner) run(ctx context.Context, call llm.ToolCall, left time.Duration) (toolResult, error) {
	name := call.Function.Name
	if !r.offers(name) {
		return refuse(name, "unknown tool %q; the tools are %s", name, strings.Join(toolNames[r.kind], ", ")), nil
	}
	if n := len(call.Function.Arguments); n > MaxArgumentBytes {
		return refuse(name, "the arguments are %d bytes, over the limit of %d; write large content in smaller pieces", n, MaxArgumentBytes), nil
	}
	timeout := min(r.timeout, left)
	if timeout <= 0 {
		return refuse(name, "no working time is left"), nil
	}
	var res toolResult
	var err error
	switch name {
	case ToolBash:
		var a struct{ Cmd *string }
		if msg := decodeArgs(call.Function.Arguments, &a); msg != "" || a.Cmd == nil {
			return refuse(name, "bad arguments: %s (want {\"cmd\": string})", orMsg(msg, "cmd is missing")), nil
		}
		res, err = r.exec(ctx, name, sandbox.ExecRequest{Shell: *a.Cmd}, timeout)
	case ToolPython:
		var a struct{ Code *string }
		if msg := decodeArgs(call.Function.Arguments, &a); msg != "" || a.Code == nil {
			return refuse(name, "bad arguments: %s (want {\"code\": string})", orMsg(msg, "code is missing")), nil
		}
		res, err = r.exec(ctx, name, sandbox.ExecRequest{Argv: []string{"python3", "-"}, Stdin: strings.NewReader(*a.Code)}, timeout)
	case ToolReadFileChunk:
		res, err = r.readChunk(ctx, call.Function.Arguments, timeout)
	case ToolSearchFile:
		res, err = r.search(ctx, call.Function.Arguments, timeout)
	}
	return res, err
}

func (r *runner) offers(name string) bool {
	for _, n := range toolNames[r.kind] {
		if n == name && n != ToolSubmit {
			return true
		}
	}
	return false
}

func orMsg(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// decodeArgs decodes a tool call's JSON arguments, returning a message for the model when
// they are not a JSON object of the right fields.
func decodeArgs(args string, v any) string {
	if strings.TrimSpace(args) == "" {
		args = "{}"
	}
	if err := json.Unmarshal([]byte(args), v); err != nil {
		return "the arguments are not a valid JSON object: " + err.Error()
	}
	return ""
}

// exec runs req in the sandbox with the timeout and describes the result for the model.
func (r *runner) exec(ctx context.Context, tool string, req sandbox.ExecRequest, timeout time.Duration) (toolResult, error) {
	req.Timeout, req.OutputLimit = timeout, r.outputLimit
	if req.Dir == "" {
		req.Dir = HomeDir
	}
	req.Env = map[string]string{"DEBIAN_FRONTEND": "noninteractive", "GIT_TERMINAL_PROMPT": "0"}
	res, err := r.sb.Exec(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return toolResult{}, ctx.Err()
		}
		return refuse(tool, "the command could not be run: %v", err), nil
	}
	out := strings.ToValidUTF8(string(bytes.TrimRight(res.Output, "\n")), "\uFFFD")
	var notes []string
	if res.Truncated {
		notes = append(notes, fmt.Sprintf("[output truncated: only the first and last %d bytes in all are shown]", r.outputLimit))
	}
	if res.TimedOut {
		notes = append(notes, fmt.Sprintf("[the command timed out after %s and all its processes were killed; "+
			"run long jobs in smaller steps, or in the background (nohup CMD > LOG 2>&1 &) and check on them]", timeout.Round(time.Second)))
	} else if res.ExitCode != 0 {
		notes = append(notes, fmt.Sprintf("[exit status %d]", res.ExitCode))
	}
	if len(notes) > 0 {
		out = strings.TrimLeft(out+"\n"+strings.Join(notes, "\n"), "\n")
	}
	return toolResult{content: out, info: ExecInfo{Tool: tool, ExitCode: res.ExitCode, TimedOut: res.TimedOut,
		Truncated: res.Truncated, DurationS: res.Duration.Seconds()}}, nil
}

// readChunk implements read_file_chunk: the lines are cut in the sandbox and numbered here.
func (r *runner) readChunk(ctx context.Context, raw string, timeout time.Duration) (toolResult, error) {
	a := struct {
		File      *string
		StartLine *int `json:"start_line"`
		MaxLines  *int `json:"max_lines"`
	}{}
	if msg := decodeArgs(raw, &a); msg != "" || a.File == nil {
		return refuse(ToolReadFileChunk, "bad arguments: %s (want {\"file\": string, \"start_line\": int, \"max_lines\": int})",
			orMsg(msg, "file is missing")), nil
	}
	start, n := intOr(a.StartLine, 1), intOr(a.MaxLines, maxReadLines)
	switch {
	case start < 1:
		return refuse(ToolReadFileChunk, "start_line must be at least 1"), nil
	case n < 1 || n > maxReadLines:
		return refuse(ToolReadFileChunk, "max_lines must be between 1 and %d", maxReadLines), nil
	}
	end := start + n - 1
	res, err := r.exec(ctx, ToolReadFileChunk, sandbox.ExecRequest{Argv: []string{"bash", "-c",
		`[ -f "$1" ] || { echo "no such file: $1" >&2; exit 2; }; n=$(wc -l < "$1"); echo "$n"; sed -n "$2,$3p;$3q" -- "$1"`,
		"read_file_chunk", *a.File, strconv.Itoa(start), strconv.Itoa(end)}}, timeout)
	if err != nil || res.info.ExitCode != 0 || res.info.Error != "" {
		return res, err
	}
	total, body, _ := strings.Cut(res.content, "\n")
	lines := strings.Split(body, "\n")
	if body == "" {
		return toolResult{content: fmt.Sprintf("[%s has %s lines; nothing from line %d]", *a.File, strings.TrimSpace(total), start),
			info: res.info}, nil
	}
	var b strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&b, "%d: %s\n", start+i, l)
	}
	fmt.Fprintf(&b, "[lines %d-%d of %s]", start, start+len(lines)-1, strings.TrimSpace(total))
	return toolResult{content: b.String(), info: res.info}, nil
}

func intOr(p *int, d int) int {
	if p == nil {
		return d
	}
	return *p
}

// search implements search_file: the file is read from the sandbox and searched here.
func (r *runner) search(ctx context.Context, raw string, timeout time.Duration) (toolResult, error) {
	a := struct {
		File, Query  *string
		ContextLines *int `json:"context_lines"`
		MaxMatches   *int `json:"max_matches"`
		Page         *int
	}{}
	if msg := decodeArgs(raw, &a); msg != "" || a.File == nil || a.Query == nil {
		return refuse(ToolSearchFile, "bad arguments: %s (want {\"file\": string, \"query\": string, ...})",
			orMsg(msg, "file or query is missing")), nil
	}
	q := searchQuery{query: *a.Query, context: intOr(a.ContextLines, 2), perPage: intOr(a.MaxMatches, 5), page: intOr(a.Page, 1)}
	if msg := q.check(); msg != "" {
		return refuse(ToolSearchFile, "%s", msg), nil
	}
	res, err := r.sb.Exec(ctx, sandbox.ExecRequest{Argv: []string{"bash", "-c",
		`[ -f "$1" ] || { echo "no such file: $1"; exit 2; }; cat -- "$1"`, "search_file", *a.File},
		Dir: HomeDir, Timeout: timeout, OutputLimit: maxSearchBytes})
	if err != nil {
		if ctx.Err() != nil {
			return toolResult{}, ctx.Err()
		}
		return refuse(ToolSearchFile, "the file could not be read: %v", err), nil
	}
	info := ExecInfo{Tool: ToolSearchFile, ExitCode: res.ExitCode, TimedOut: res.TimedOut, DurationS: res.Duration.Seconds()}
	if res.ExitCode != 0 || res.TimedOut {
		return toolResult{content: "Error: " + strings.TrimSpace(string(res.Output)), info: info}, nil
	}
	content := q.run(strings.ToValidUTF8(string(res.Output), "\uFFFD"), *a.File)
	if res.Truncated {
		content += fmt.Sprintf("\n[the file is over %d bytes: its middle was not searched]", maxSearchBytes)
	}
	return toolResult{content: content, info: info}, nil
}

type searchQuery struct {
	query                  string
	context, perPage, page int
}

func (q searchQuery) check() string {
	switch {
	case strings.TrimSpace(q.query) == "":
		return "query is empty"
	case q.context < 0 || q.context > 50:
		return "context_lines must be between 0 and 50"
	case q.perPage < 1 || q.perPage > 100:
		return "max_matches must be between 1 and 100"
	case q.page < 1:
		return "page must be at least 1"
	}
	return ""
}

// run returns the page of matches of q in text, the matching line marked with ">>>".
func (q searchQuery) run(text, file string) string {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	needle := strings.ToLower(q.query)
	var hits []int
	for i, l := range lines {
		if strings.Contains(strings.ToLower(l), needle) {
			hits = append(hits, i)
		}
	}
	if len(hits) == 0 {
		return fmt.Sprintf("No matches of %q in %s.", q.query, file)
	}
	pages := (len(hits) + q.perPage - 1) / q.perPage
	if q.page > pages {
		return fmt.Sprintf("%d matches of %q in %s make %d page(s); page %d does not exist.", len(hits), q.query, file, pages, q.page)
	}
	first := (q.page - 1) * q.perPage
	shown := hits[first:min(first+q.perPage, len(hits))]
	var b strings.Builder
	fmt.Fprintf(&b, "Matches %d-%d of %d for %q in %s (page %d of %d):\n", first+1, first+len(shown), len(hits), q.query, file, q.page, pages)
	for _, h := range shown {
		b.WriteString("\n")
		for i := max(0, h-q.context); i <= min(len(lines)-1, h+q.context); i++ {
			mark := "   "
			if i == h {
				mark = ">>>"
			}
			fmt.Fprintf(&b, "%s %d: %s\n", mark, i+1, lines[i])
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}
