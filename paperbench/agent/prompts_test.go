package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/agent/agenttest"
	"github.com/latentlab/latent/paperbench/sandbox"
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

// TestGPUNamesInPrompt: the instructions name the GPUs the computer's nvidia-smi reports (a
// fake one here, mounted first on the PATH), and say "no GPU" when nvidia-smi fails or is
// missing; the transcript's start records the same names.
func TestGPUNamesInPrompt(t *testing.T) {
	const list = `[ "$*" = "--query-gpu=name --format=csv,noheader" ] || { echo "unexpected arguments: $*" >&2; exit 2; }
printf 'NVIDIA H200\nNVIDIA H200\n'`
	const broken = `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2; exit 9`
	for _, tc := range []struct {
		name, script, want string
		gpus               int
	}{
		{"two", list, "- Compute: you have 2 GPU(s): NVIDIA H200, NVIDIA H200.", 2},
		{"driver-fails", broken, "- Compute: you have no GPU.", 0},
		{"no-nvidia-smi", "", "- Compute: you have no GPU.", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := agenttest.New(func(agenttest.Request) agenttest.Reply {
				return agenttest.Reply{Calls: []agenttest.Call{agenttest.Submit("x")}}
			})
			defer srv.Close()
			dir := t.TempDir()
			cfg := config(t, srv, dir)
			if tc.script != "" {
				bin := t.TempDir()
				if err := os.WriteFile(filepath.Join(bin, "nvidia-smi"), []byte("#!/bin/bash\n"+tc.script+"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
				cfg.Spec.Mounts = []sandbox.Mount{{Source: bin, Target: "/usr/local/bin"}}
			}
			if _, err := Run(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			events, err := ReadTranscript(filepath.Join(dir, TranscriptFile))
			if err != nil {
				t.Fatal(err)
			}
			if instr := events[2].Message.Content; !strings.Contains(instr, tc.want) {
				t.Errorf("instructions lack %q:\n%s", tc.want, instr)
			}
			if got := events[0].Start.GPUs; len(got) != tc.gpus {
				t.Errorf("start records GPUs %q, want %d", got, tc.gpus)
			}
		})
	}
}
