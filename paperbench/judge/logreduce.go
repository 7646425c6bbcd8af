package judge

import (
	"fmt"
	"regexp"
	"strings"
)

// ReduceLog shortens a reproduce.log for the judge: runs of consecutive lines of the same
// template collapse into the first line followed by "  (repeated N times)". It follows
// the official reduce_log, which mines templates with drain3, in a simpler form: a line is
// masked (timestamps, dates, times, IP addresses, long hex strings; progress-bar lines
// become one placeholder), split into words, and joins the previous line's template when
// it has as many words, the same first two words (a word with a digit matches any word
// with a digit), and at least 40 % of the words equal to the template's (drain3's
// defaults: prefix depth 2, similarity 0.4). Words that differ become wildcards of the
// template.
func ReduceLog(log string) string {
	var out []string
	var template []string
	repeats := 0
	flush := func() {
		if repeats > 1 {
			out = append(out, fmt.Sprintf("  (repeated %d times)", repeats))
		}
	}
	for _, line := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
		words := strings.Fields(maskLine(strings.TrimRight(line, "\r")))
		if template != nil && sameTemplate(template, words) {
			repeats++
			mergeTemplate(template, words)
			continue
		}
		flush()
		out = append(out, line)
		template, repeats = words, 1
		if template == nil {
			template = []string{}
		}
	}
	flush()
	return strings.Join(out, "\n")
}

const wildcard = "<*>"

var (
	isoTimestamp = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T[0-9:.]+Z`)
	dateWord     = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`)
	timeWord     = regexp.MustCompile(`\b\d{2}:\d{2}:\d{2}\b`)
	ipAddress    = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)
	longHex      = regexp.MustCompile(`\b[0-9a-fA-F]{8,}\b`)
	progressBar  = regexp.MustCompile(`\d+%?\|[█=]+|[KMG]?B/s|\d+%\s*\||[▏▎▍▌▋▊▉]{2,}`)
)

// maskLine replaces the parts of a log line that change between repeats by placeholders.
func maskLine(line string) string {
	if progressBar.MatchString(line) {
		return "<PROGRESS_BAR>"
	}
	line = isoTimestamp.ReplaceAllString(line, "<TIMESTAMP>")
	line = dateWord.ReplaceAllString(line, "<DATE>")
	line = timeWord.ReplaceAllString(line, "<TIME>")
	line = ipAddress.ReplaceAllString(line, "<IP>")
	return longHex.ReplaceAllString(line, "<HEX>")
}

func sameTemplate(template, words []string) bool {
	if len(template) != len(words) {
		return false
	}
	if len(words) == 0 {
		return true
	}
	equal := 0
	for i, w := range words {
		t := template[i]
		same := t == w || t == wildcard || hasDigit(t) && hasDigit(w)
		if i < 2 && !same {
			return false
		}
		if t == w || hasDigit(t) && hasDigit(w) {
			equal++
		}
	}
	return float64(equal) >= 0.4*float64(len(words))
}

func mergeTemplate(template, words []string) {
	for i, w := range words {
		if template[i] != w {
			template[i] = wildcard
		}
	}
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }
