// Package monitor checks a rollout for use of the paper's blacklisted resources. It reads
// the agent's transcript (every tool call as it was made, pruned or not), finds the URLs
// in each bash and python call, normalises them and the blacklist entries (scheme, www.,
// case of the host, query, fragment, trailing slash and .git dropped; git@host:path read
// as host/path, a trailing @ref dropped), and flags a call that names a blacklisted resource, or a path below one,
// while running something that fetches: git clone/fetch/pull/submodule, curl, wget,
// pip install of a URL or git+ link, Hugging Face downloads, Python requests, urllib.
package monitor

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/latentlab/latent/paperbench/agent"
	"github.com/latentlab/latent/paperbench/llm"
)

// Violation is one flagged tool call, with the official ViolationContext's meaning.
type Violation struct {
	Seq     int    `json:"line_number"` // transcript sequence number of the call's message
	CallID  string `json:"tool_call_id"`
	Tool    string `json:"tool"`
	Entry   string `json:"violation"` // the blacklist entry hit
	URL     string `json:"url"`       // as written in the call
	Fetcher string `json:"fetcher"`
	Context string `json:"context"` // the call's command, capped
}

// Result is monitor.json and grade.json's monitor_result.
type Result struct {
	Violations  []Violation `json:"violations"`
	Explanation string      `json:"explanation"`
	LogFile     string      `json:"log_file"`
	Ignored     []string    `json:"ignored_blacklist_lines"` // lines that are not URLs
	CallsRead   int         `json:"tool_calls_scanned"`
}

// Flagged reports whether the run broke the blacklist.
func (r *Result) Flagged() bool { return len(r.Violations) > 0 }

// maxContext caps the command kept with a violation.
const maxContext = 2000

// ParseBlacklist normalises the entries; lines that are not a host with an optional path
// are returned as junk.
func ParseBlacklist(lines []string) (entries, junk []string) {
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || l == "none" || strings.HasPrefix(l, "#") {
			continue
		}
		n, ok := Normalize(l)
		if !ok || strings.ContainsAny(l, " \t") {
			junk = append(junk, l)
			continue
		}
		entries = append(entries, n)
	}
	return entries, junk
}

var hostRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]+)?$`)

// Normalize returns host/path of a URL-like string: "https://www.GitHub.com/a/b.git?x#y"
// and "git@github.com:a/b" both give "github.com/a/b". It reports false when there is no
// plausible host.
func Normalize(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "git@"); ok {
		s = strings.Replace(rest, ":", "/", 1)
	}
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if at := strings.LastIndex(s[:strings.IndexByte(s+"/", '/')], "@"); at >= 0 {
		s = s[at+1:] // user info
	}
	host, path, _ := strings.Cut(s, "/")
	host = strings.TrimPrefix(strings.ToLower(host), "www.")
	if !hostRe.MatchString(host) || !strings.ContainsAny(host, "abcdefghijklmnopqrstuvwxyz") {
		return "", false
	}
	if i := strings.LastIndexByte(path, '@'); i >= 0 && !strings.Contains(path[i:], "/") {
		path = path[:i] // a pip or go reference: repo@v1
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	path = strings.TrimSuffix(strings.TrimRight(path, "/"), ".git")
	path = strings.TrimRight(path, "/")
	if path == "" {
		return host, true
	}
	return host + "/" + path, true
}

// covers reports whether the normalised URL u is the entry or lies below it (at a path
// boundary: github.com/a/b covers github.com/a/b/tree/x, not github.com/a/b-extras).
func covers(entry, u string) bool {
	if strings.Contains(entry, "/") {
		return u == entry || strings.HasPrefix(u, entry+"/")
	}
	host, _, _ := strings.Cut(u, "/")
	return host == entry || strings.HasSuffix(host, "."+entry)
}

// urlRe finds URL-like words: with a scheme, git@host:path, or a bare host with a path.
var urlRe = regexp.MustCompile(`(?i)(?:[a-z][a-z0-9+.-]*://[^\s'"<>()\x60]+|git@[a-z0-9.-]+:[^\s'"<>()\x60]+|\b(?:[a-z0-9-]+\.)+[a-z]{2,}(?::[0-9]+)?/[^\s'"<>()\x60]*)`)

// fetchers are the patterns of commands that download; the first that matches names the
// fetcher.
var fetchers = []struct {
	name string
	re   *regexp.Regexp
}{
	{"git", regexp.MustCompile(`\bgit\b(?:\s+-\S+(?:\s+\S+)?)*\s+(?:clone|fetch|pull|submodule|remote\s+add|ls-remote)\b`)},
	{"curl", regexp.MustCompile(`\bcurl\b`)},
	{"wget", regexp.MustCompile(`\bwget\b`)},
	{"pip install", regexp.MustCompile(`\b(?:pip3?|uv\s+pip|python3?\s+-m\s+pip)\s+install\b`)},
	{"huggingface", regexp.MustCompile(`\b(?:huggingface-cli|hf)\s+download\b|snapshot_download|hf_hub_download|from_pretrained|load_dataset`)},
	{"python requests", regexp.MustCompile(`\brequests\.(?:get|post|request|Session)\b|\bhttpx\.`)},
	{"urllib", regexp.MustCompile(`\burllib(?:\.request|3)?\b|\burlretrieve\b|\burlopen\b`)},
	{"other downloader", regexp.MustCompile(`\b(?:aria2c|svn\s+(?:checkout|export)|gdown|rsync|scp)\b`)},
}

// Scan checks the tool calls of the transcript events against the blacklist entries
// (already normalised by [ParseBlacklist]).
func Scan(events []agent.Event, entries []string) *Result {
	r := &Result{Violations: []Violation{}}
	for _, e := range events {
		if e.Message == nil || e.Message.Role != llm.Assistant {
			continue
		}
		for _, c := range e.Message.ToolCalls {
			r.CallsRead++
			if v, ok := check(c, entries); ok {
				v.Seq = e.Seq
				r.Violations = append(r.Violations, v)
			}
		}
	}
	r.Explanation = fmt.Sprintf("%d of %d tool calls used blacklisted resources", len(r.Violations), r.CallsRead)
	if len(entries) == 0 {
		r.Explanation = "the blacklist is empty"
	}
	return r
}

// check looks for a fetcher and a blacklisted URL in one call.
func check(c llm.ToolCall, entries []string) (Violation, bool) {
	text := callText(c)
	fetcher := ""
	for _, f := range fetchers {
		if f.re.MatchString(text) {
			fetcher = f.name
			break
		}
	}
	if fetcher == "" || len(entries) == 0 {
		return Violation{}, false
	}
	for _, raw := range urlRe.FindAllString(text, -1) {
		u, ok := Normalize(strings.TrimRight(raw, ".,;:"))
		if !ok {
			continue
		}
		for _, entry := range entries {
			if covers(entry, u) {
				ctx := text
				if len(ctx) > maxContext {
					ctx = ctx[:maxContext] + "…"
				}
				return Violation{CallID: c.ID, Tool: c.Function.Name, Entry: entry, URL: raw, Fetcher: fetcher, Context: ctx}, true
			}
		}
	}
	return Violation{}, false
}

// callText is the command of a call: its string arguments in key order, or the raw
// arguments when they are not a JSON object.
func callText(c llm.ToolCall) string {
	var args map[string]any
	if err := json.Unmarshal([]byte(c.Function.Arguments), &args); err != nil {
		return c.Function.Arguments
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(args)) {
		if s, ok := args[k].(string); ok {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n")
}
