package judge

import (
	"fmt"
	"strings"

	"github.com/latentlab/latent/paperbench/rubric"
)

// The prompts follow the structure of the official SimpleJudge (which messages, in which
// order, what each asks for); the wording is this package's own.

const judgeRole = `You are an expert reviewer of machine-learning research code. A candidate was given a research paper and asked to reproduce its contributions from scratch, writing a code repository (the "submission"). You grade the submission against one criterion of a rubric written with the paper's authors.

You will see the paper, an addendum of clarifications from the authors, the submission files most relevant to the criterion, and the criterion itself together with the criteria that come before it in the rubric. Grade only the criterion you are given: the preceding ones are context. Base your grade on what the submission actually contains, not on what it claims.`

const judgeRoleExecution = `

The submission was meant to include a script "reproduce.sh" at its root that runs the whole reproduction. That script was executed in a fresh container before grading, and everything it printed was saved to "reproduce.log". Files that the run created or modified are the results of the reproduction. You will see reproduce.sh and, where the criterion concerns execution or results, reproduce.log.`

const judgeRoleCodeOnly = `

This grading concerns the code only: the submission will not be executed, so judge whether the code correctly implements what the criterion asks for.`

// systemPrompt returns the grading call's system message.
func systemPrompt(codeOnly bool) string {
	if codeOnly {
		return judgeRole + judgeRoleCodeOnly
	}
	return judgeRole + judgeRoleExecution
}

const rankingRole = `You help grade an attempt to reproduce a research paper. Given the paper, the addendum, one grading criterion and the file tree of the submission, you choose which files a grader must read to decide whether the criterion is met. Answer with file paths only, exactly as they appear in the tree (full path from the top of the submission), one per line, the most relevant first. Write nothing else.`

const parseRole = `You convert a grader's written verdict into a JSON object. The verdict explains what the grader expected, what the submission does, and ends with a score. Reply with one JSON object with exactly these keys:
  "valid_score": true when the verdict states a clear score, false otherwise;
  "score": the score it states %s;
  "explanation": a short summary of the grader's reasons.
When the verdict states no usable score, set "valid_score" to false and "score" to 0. Reply with the JSON object only.`

// parsePrompt returns the parse call's system message.
func parsePrompt(continuous bool) string {
	if continuous {
		return fmt.Sprintf(parseRole, "(a number from 0 to 1)")
	}
	return fmt.Sprintf(parseRole, "(0 or 1)")
}

// categoryQuestions ask, per task category, what the grader must decide.
var categoryQuestions = map[string]string{
	rubric.CodeDevelopment: "Does the submission contain code that correctly implements this? A description, a plan or instructions are not enough: look for actual code that does it.",
	rubric.CodeExecution:   "Did running reproduce.sh actually execute this successfully? Look for evidence in reproduce.log and in the files the run produced.",
	rubric.ResultAnalysis:  "Did the execution of reproduce.sh produce results that agree with this? Look at the outputs the run produced and at reproduce.log.",
	rubric.Subtree:         "Taking each listed criterion with its weight, what fraction of this part of the rubric does the submission satisfy?",
}

const defaultQuestion = "Does the submission satisfy this criterion?"

func paperMessage(paper string) string { return "The paper:\n<paper>\n" + paper + "\n</paper>" }

func addendumMessage(addendum string) string {
	return "The addendum, with the authors' clarifications of the paper and of how to grade its reproduction:\n<addendum>\n" +
		addendum + "\n</addendum>"
}

func criterionOnlyMessage(requirements string) string {
	return "The criterion being graded:\n<criterion>\n" + requirements + "\n</criterion>"
}

func rankingRequest(tree string, maxFiles int) string {
	return fmt.Sprintf("The files of the submission:\n\n%s\n\nList the %d files most relevant to the criterion, most relevant first, one full path per line and nothing else.",
		tree, maxFiles)
}

func filesMessage(category, files string) string {
	intro := "The submission files most relevant to the criterion, one after the other:"
	if category == rubric.ResultAnalysis {
		intro = "The submission's documentation and the files that the execution of reproduce.sh created or modified, the most relevant first, one after the other:"
	}
	return intro + "\n<files>\n" + files + "\n</files>"
}

func reproduceScriptMessage(script string) string {
	return "The submission's reproduce.sh (if any):\n<reproduce.sh>\n" + script + "\n</reproduce.sh>"
}

func reproduceLogMessage(log string) string {
	return "The output of running reproduce.sh, with repeated lines collapsed (if any):\n<reproduce.log>\n" + log + "\n</reproduce.log>"
}

// criterionMessage shows the criteria before the graded one (ancestors and preceding
// siblings), then the criterion with its category's question.
func criterionMessage(prior []*rubric.Node, node *rubric.Node) string {
	var b strings.Builder
	b.WriteString("The criteria that precede this one in the rubric, from the top (context only):\n<preceding_criteria>\n")
	for _, n := range prior {
		b.WriteString(" -> ")
		b.WriteString(n.Requirements)
		b.WriteByte('\n')
	}
	b.WriteString("</preceding_criteria>\n\nThe criterion to grade:\n<criterion>\n")
	b.WriteString(node.Requirements)
	question, ok := categoryQuestions[node.TaskCategory]
	if !ok {
		question = defaultQuestion
	}
	fmt.Fprintf(&b, "\n</criterion>\n\nIts category is %q. %s", node.TaskCategory, question)
	return b.String()
}

// gradingRequest asks for the written verdict.
func gradingRequest(continuous bool) string {
	score := "Give a score of 1 if the submission meets the criterion and 0 if it does not; no other value is allowed."
	if continuous {
		score = "Give a score between 0 and 1: the weighted fraction of the listed criteria that the submission meets."
	}
	return `Write your verdict in three sections:

# Expectations
What a correct reproduction would have to contain or show to meet this criterion, specific to the paper.

# Reality
What the submission actually contains or produced for this criterion, citing the files, code and log lines you rely on.

# Score
` + score + ` Then explain the score in a few sentences.`
}
