package agent

import (
	"fmt"
	"strings"
	"time"
)

// The agent's computer.
const (
	HomeDir        = "/home"
	PaperDir       = "/home/paper"
	SubmissionDir  = "/home/submission"
	LogsDir        = "/home/logs"
	InstructionsAt = "/home/instructions.txt"
)

const systemBasic = `You are an autonomous research engineer working alone on a computer through tools. ` +
	`Each reply should call one or more tools; explain your reasoning briefly before each call. ` +
	`Work step by step: run one command at a time, read its output, and fix what fails before moving on. ` +
	`Do the work yourself: write and run the code, do not only describe it. ` +
	`You have a fixed amount of working time; use all of it to make your replication more complete and more correct, ` +
	`and call submit only when nothing useful is left to do.`

const systemIterative = `You are an autonomous research engineer working alone on a computer through tools.
- Make progress in small, checked steps: one command per call, read its output, then decide the next step.
- Keep the code base clean: edit existing files rather than creating near copies, and delete what you no longer need.
- Write real files with real newlines; never put literal "\n" sequences in code.
- Commit your work to git in /home/submission regularly.
- Use all your working time to improve the replication; do not stop early.`

const systemReproduce = `Your submission is graded by running its reproduce.sh in a fresh computer with the same ` +
	`image: only what reproduce.sh produces from the files in /home/submission counts. Make sure it runs from a ` +
	`clean checkout, installs what it needs, and writes the results it claims.`

const systemPaper = `The paper is long: read it in pieces (read_file_chunk pages through it) and come back to ` +
	`the parts you need. Aim to replicate the whole paper, not a single experiment.`

// systemPrompt returns the system message of the agent kind.
func systemPrompt(kind Kind, codeOnly bool) string {
	parts := []string{systemBasic}
	if kind == Iterative {
		parts[0] = systemIterative
	}
	if !codeOnly {
		parts = append(parts, systemReproduce)
	}
	return strings.Join(append(parts, systemPaper), "\n\n")
}

const instructionsTask = `You are given a research paper and asked to replicate its contributions from scratch: ` +
	`write a code repository that implements the paper's methods and experiments.

- The paper is in /home/paper: paper.md (and paper.pdf when present), the figures in /home/paper/assets, and ` +
	`addendum.md with clarifications from the authors that take precedence over the paper.
- /home/paper/blacklist.txt lists resources you must not use: do not download, clone or copy from them. ` +
	`Using them disqualifies the attempt.
- Put your work in /home/submission, which is a git repository. Only committed, tracked files count; ` +
	`keep it under 1 GB and do not commit datasets or model weights: fetch them from code instead.
- Write a README.md in /home/submission saying what you implemented, what works and what does not.
- Your logs can go to /home/logs.`

const instructionsReproduce = `
- /home/submission must contain reproduce.sh, a bash script that reproduces your results. It is run as ` +
	"`bash reproduce.sh`" + ` from /home/submission in a fresh computer with no network-installed state from ` +
	`your session: it must install what it needs, run the experiments and write their outputs inside ` +
	`/home/submission. Its output is saved as reproduce.log. Grading checks your code, whether reproduce.sh runs, ` +
	`and whether its results match the paper's.`

const instructionsCodeOnly = `
- This is the Code-Dev variant: your code is graded by reading it, not by running it. Spend your time on ` +
	`correct, complete implementations of the paper's methods and experiments; a reproduce.sh that shows how ` +
	`to run them is welcome but is not executed.`

const instructionsIterative = `

STRATEGY
- Read the whole paper and the whole addendum before writing code, and list what must be built.
- Build the simplest complete pipeline first, then improve each part.
- Avoid pinning exact package versions unless you know they are needed.`

// instructions returns the first user message: the task, the variant's rules and the
// notes on the computer and the time.
func instructions(kind Kind, codeOnly, network bool, gpus []string, limit time.Duration) string {
	var b strings.Builder
	b.WriteString(instructionsTask)
	if codeOnly {
		b.WriteString(instructionsCodeOnly)
	} else {
		b.WriteString(instructionsReproduce)
	}
	if kind == Iterative {
		b.WriteString(instructionsIterative)
	}
	b.WriteString("\n\nADDITIONAL NOTES\n")
	if len(gpus) > 0 {
		fmt.Fprintf(&b, "- Compute: you have %d GPU(s): %s.\n", len(gpus), strings.Join(gpus, ", "))
	} else {
		b.WriteString("- Compute: you have no GPU.\n")
	}
	if limit > 0 {
		fmt.Fprintf(&b, "- Time: you have %.3f hours of working time (waits for the model are not counted). "+
			"Each command stops after its own time limit.\n", limit.Hours())
	}
	if network {
		b.WriteString("- Network: you can reach the internet.\n")
	} else {
		b.WriteString("- Network: there is no network access; work with what is installed and what the paper folder holds.\n")
	}
	b.WriteString("- Use all the time you have, and replicate the results yourself: do not fabricate outputs.")
	return b.String()
}

const continueMessage = `Continue with the next step of the replication, using the tools. If you think you are ` +
	`done, check your work again and improve it: test reproduce.sh, compare your results with the paper, and ` +
	`fill the gaps.`

// reminder is the periodic user message about the time.
func reminder(elapsed, limit time.Duration) string {
	msg := fmt.Sprintf("Info: %s of working time used", clockString(elapsed))
	if limit > 0 {
		msg += fmt.Sprintf(" out of %s. Keep working until the time is up.", clockString(limit))
	}
	return msg + "\n\nNote: commit your work to git regularly."
}

func clockString(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

// resumeNote tells the model that its computer restarted.
func resumeNote(snap *Snapshot, lost int) string {
	where := "/home/submission was restored empty (no snapshot had been taken)"
	if snap != nil {
		where = fmt.Sprintf("/home/submission was restored from the snapshot taken at %s of working time (commit %s)",
			clockString(time.Duration(snap.WorkingS*float64(time.Second))), shortCommit(snap.Commit))
	}
	msg := "Note: your computer was restarted after an interruption. " + where +
		"; changes made after it and files outside /home/submission are lost, and no process survived."
	if lost > 0 {
		msg += fmt.Sprintf(" %d tool call(s) of your last message did not finish; run them again if needed.", lost)
	}
	return msg
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
