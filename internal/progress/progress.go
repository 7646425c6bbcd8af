// Package progress reports how far a long command has got: an animated bar when it writes to a
// terminal, and plain progress lines (one per tenth of the work or per interval, whichever comes
// first, and one at the end) when it writes to a file or pipe, so logs and CI output stay
// readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Interval is the longest a plain report waits between two lines.
const Interval = 10 * time.Second

// Bar reports progress towards a total. It is safe for concurrent use.
type Bar struct {
	mu        sync.Mutex
	w         io.Writer
	label     string
	total     int64
	bytes     bool
	bar       *progressbar.ProgressBar // nil when not on a terminal
	n         int64
	desc      string
	start     time.Time
	lastLine  time.Time
	lastTenth int64
	done      bool
}

// New starts a report of total units (bytes when bytes is true) under label, written to w.
func New(w io.Writer, total int64, label string, bytes bool) *Bar {
	b := &Bar{w: w, label: label, total: max(total, 1), bytes: bytes, start: time.Now()}
	b.lastLine = b.start
	if IsTerminal(w) {
		opts := []progressbar.Option{progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(label),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200 * time.Millisecond),
			progressbar.OptionSetWidth(20), progressbar.OptionShowCount()}
		if bytes {
			opts = append(opts, progressbar.OptionShowBytes(true))
		}
		b.bar = progressbar.NewOptions64(b.total, opts...)
	}
	return b
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Add advances the report by n units.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setLocked(b.n + n)
}

// Set moves the report to n units done.
func (b *Bar) Set(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setLocked(n)
}

// Describe sets the text shown after the count (loss, throughput, ...).
func (b *Bar) Describe(desc string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.desc = desc
	if b.bar != nil {
		b.bar.Describe(b.label + " | " + desc)
	}
}

// Clear removes the bar from the terminal line so that other output can be printed; plain
// reports need nothing.
func (b *Bar) Clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		b.bar.Clear()
	}
}

// Finish ends the report with a final line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	if b.bar != nil {
		b.bar.Finish()
		fmt.Fprintln(b.w)
		return
	}
	b.line(time.Now())
}

func (b *Bar) setLocked(n int64) {
	b.n = min(max(n, 0), b.total)
	if b.bar != nil {
		b.bar.Set64(b.n)
		return
	}
	now := time.Now()
	tenth := 10 * b.n / b.total
	if tenth > b.lastTenth || now.Sub(b.lastLine) >= Interval {
		b.lastTenth = tenth
		b.line(now)
	}
}

// line prints one plain progress line.
func (b *Bar) line(now time.Time) {
	b.lastLine = now
	count := fmt.Sprintf("%d/%d", b.n, b.total)
	if b.bytes {
		count = fmt.Sprintf("%.1f/%.1f MB", float64(b.n)/1e6, float64(b.total)/1e6)
	}
	text := fmt.Sprintf("%s: %s (%.0f %%), %s", b.label, count, 100*float64(b.n)/float64(b.total),
		now.Sub(b.start).Round(100*time.Millisecond))
	if b.desc != "" {
		text += ", " + b.desc
	}
	fmt.Fprintln(b.w, text)
}
