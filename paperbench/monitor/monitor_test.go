package monitor

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/latentlab/latent/paperbench/agent"
	"github.com/latentlab/latent/paperbench/llm"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"https://www.GitHub.com/Org/Repo.git?tab=x#readme": "github.com/Org/Repo",
		"git@github.com:org/repo.git":                      "github.com/org/repo",
		"http://user:pw@gitlab.com/a/b/":                   "gitlab.com/a/b",
		"github.com/a/b":                                   "github.com/a/b",
		"https://arxiv.org":                                "arxiv.org",
		"https://github.com/a/b%20c":                       "github.com/a/b c",
	} {
		if got, ok := Normalize(in); !ok || got != want {
			t.Errorf("Normalize(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "???", "not a url", "localhost", "1.2.3", "https://"} {
		if got, ok := Normalize(bad); ok {
			t.Errorf("Normalize(%q) = %q, want a refusal", bad, got)
		}
	}
}

func TestParseBlacklistJunk(t *testing.T) {
	entries, junk := ParseBlacklist([]string{"https://github.com/a/b", "# comment", "none", "", "??? junk line", "see the repo", "huggingface.co"})
	if strings.Join(entries, ",") != "github.com/a/b,huggingface.co" || strings.Join(junk, ",") != "??? junk line,see the repo" {
		t.Errorf("entries %v junk %v", entries, junk)
	}
}

func call(tool, arg, value string) llm.ToolCall {
	b, _ := json.Marshal(map[string]string{arg: value})
	return llm.ToolCall{ID: "c", Type: "function", Function: llm.FunctionCall{Name: tool, Arguments: string(b)}}
}

func TestScan(t *testing.T) {
	entries, _ := ParseBlacklist([]string{"https://github.com/authors/paper-code", "drive.google.com"})
	for _, tc := range []struct {
		call    llm.ToolCall
		fetcher string // "" for no violation
	}{
		{call("bash", "cmd", "git clone https://github.com/authors/paper-code.git /tmp/x"), "git"},
		{call("bash", "cmd", "cd /tmp && git -C repo fetch git@github.com:authors/paper-code.git"), "git"},
		{call("bash", "cmd", "git submodule add github.com/Authors/paper-code/ ext"), ""}, // path case differs: another repo
		{call("bash", "cmd", "curl -sL https://github.com/authors/paper-code/archive/main.zip -o a.zip"), "curl"},
		{call("bash", "cmd", "wget 'https://WWW.github.com/authors/paper-code/raw/main/train.py'"), "wget"},
		{call("bash", "cmd", "pip install git+https://github.com/authors/paper-code@v1"), "pip install"},
		{call("bash", "cmd", "huggingface-cli download x --url https://drive.google.com/file/d/1"), "huggingface"},
		{call("python", "code", "import requests\nr = requests.get('https://github.com/authors/paper-code/blob/main/m.py')"), "python requests"},
		{call("python", "code", "from urllib.request import urlretrieve\nurlretrieve('https://docs.drive.google.com/x', 'f')"), "urllib"},
		{llm.ToolCall{ID: "c", Function: llm.FunctionCall{Name: "bash", Arguments: `{"cmd": "curl https://github.com/authors/paper-code`}}, "curl"},
		// Not violations: other repositories, no fetch, reading the blacklist.
		{call("bash", "cmd", "git clone https://github.com/authors/paper-code-extras"), ""},
		{call("bash", "cmd", "echo see https://github.com/authors/paper-code"), ""},
		{call("bash", "cmd", "cat /home/paper/blacklist.txt; curl --version"), ""},
		{call("bash", "cmd", "curl https://pypi.org/simple/torch/"), ""},
	} {
		events := []agent.Event{{Seq: 7, Type: agent.EventMessage, Message: &llm.Message{Role: llm.Assistant, ToolCalls: []llm.ToolCall{tc.call}}}}
		r := Scan(events, entries)
		switch {
		case tc.fetcher == "" && r.Flagged():
			t.Errorf("%s: flagged %+v", tc.call.Function.Arguments, r.Violations)
		case tc.fetcher != "" && (!r.Flagged() || r.Violations[0].Fetcher != tc.fetcher || r.Violations[0].Seq != 7):
			t.Errorf("%s: %+v, want a %s violation", tc.call.Function.Arguments, r.Violations, tc.fetcher)
		}
	}
}

// TestScanSeesPrunedAndToolMessagesOnly: calls are read from assistant messages wherever
// they are in the transcript; tool results and user messages are not commands.
func TestScanMessageRoles(t *testing.T) {
	entries, _ := ParseBlacklist([]string{"github.com/a/b"})
	events := []agent.Event{
		{Seq: 1, Type: agent.EventMessage, Message: &llm.Message{Role: llm.User, Content: "git clone https://github.com/a/b"}},
		{Seq: 2, Type: agent.EventMessage, Message: &llm.Message{Role: llm.Tool, Content: "curl https://github.com/a/b"}},
		{Seq: 3, Type: agent.EventMessage, Discarded: true, Message: &llm.Message{Role: llm.Assistant,
			ToolCalls: []llm.ToolCall{call("bash", "cmd", "wget github.com/a/b/x")}}},
		{Seq: 4, Type: agent.EventPrune, Dropped: []int{3}},
	}
	r := Scan(events, entries)
	if len(r.Violations) != 1 || r.Violations[0].Seq != 3 || r.CallsRead != 1 {
		t.Errorf("%+v", r)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"https://github.com/a/b.git", "git@h.io:x", "a@b@c.com/x", "http://[::1]/x", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := Normalize(s)
		if !ok {
			return
		}
		again, ok2 := Normalize(n)
		if !ok2 || !covers(again, again) {
			t.Fatalf("Normalize(%q) = %q, then %q %v", s, n, again, ok2)
		}
		ParseBlacklist([]string{s})
	})
}
