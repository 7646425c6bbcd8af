package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/agent/agenttest"
)

func TestInstructionsVariants(t *testing.T) {
	full := instructions(Basic, false, false, []string{"NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"}, 90*time.Minute)
	for _, want := range []string{"reproduce.sh", "2 GPU(s): NVIDIA H100 80GB HBM3, NVIDIA H100 80GB HBM3", "1.500 hours", "no network access"} {
		if !strings.Contains(full, want) {
			t.Errorf("full instructions lack %q", want)
		}
	}
	code := instructions(Iterative, true, true, nil, time.Hour)
	for _, want := range []string{"Code-Dev", "no GPU", "STRATEGY", "reach the internet"} {
		if !strings.Contains(code, want) {
			t.Errorf("Code-Dev iterative instructions lack %q", want)
		}
	}
	if strings.Contains(code, "Its output is saved as reproduce.log") {
		t.Error("Code-Dev instructions ask for an executed reproduce.sh")
	}
	if strings.Contains(systemPrompt(Basic, true), "reproduce.sh") || !strings.Contains(systemPrompt(Basic, false), "reproduce.sh") {
		t.Error("the reproduce.sh paragraph of the system prompt does not follow the variant")
	}
}

// TestIterativeAgentTools: IterativeAgent is offered bash, read_file_chunk and submit
// only, and a call to another tool is refused; the layout is in place.
func TestIterativeAgentTools(t *testing.T) {
	var offered []string
	srv := agenttest.New(func(r agenttest.Request) agenttest.Reply {
		offered = r.Tools
		if r.Step == 0 {
			return agenttest.Reply{Calls: []agenttest.Call{
				{Name: "python", Args: map[string]string{"code": "print(1)"}},
				agenttest.Bash("ls /home/paper /home/paper/assets; test -d /home/logs && cat /home/instructions.txt | head -1; " +
					"git -C /home/submission rev-parse --is-inside-work-tree; ls /home/paper/rubric.json"),
			}}
		}
		return agenttest.Reply{Calls: []agenttest.Call{agenttest.Submit("x")}}
	})
	defer srv.Close()
	dir := t.TempDir()
	cfg := config(t, srv, dir)
	cfg.Kind = Iterative
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if strings.Join(offered, ",") != "bash,read_file_chunk,submit" {
		t.Errorf("offered %v", offered)
	}
	events, _ := ReadTranscript(filepath.Join(dir, TranscriptFile))
	a := toolAnswers(events)
	if !strings.Contains(a["s0-0"], `unknown tool "python"`) {
		t.Errorf("python answer %q", a["s0-0"])
	}
	for _, want := range []string{"paper.md", "addendum.md", "blacklist.txt", "You are given a research paper", "true", "rubric.json': No such file", "fig1.png"} {
		if !strings.Contains(a["s0-1"], want) {
			t.Errorf("layout listing lacks %q:\n%s", want, a["s0-1"])
		}
	}
}

func TestConfigErrors(t *testing.T) {
	srv := agenttest.New(agenttest.Replicator(0))
	defer srv.Close()
	cfg := config(t, srv, t.TempDir())
	cfg.Kind = "clever"
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "unknown agent") {
		t.Errorf("unknown kind: %v", err)
	}
	cfg = config(t, srv, t.TempDir())
	cfg.Paper = t.TempDir()
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no paper.md") {
		t.Errorf("paper without paper.md: %v", err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, TranscriptFile), []byte("{\"seq\": 1}\nnot json\n"), 0o644)
	cfg = config(t, srv, bad)
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("corrupt transcript: %v", err)
	}
}
