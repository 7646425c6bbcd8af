package sandbox

import (
	"fmt"
	"io"
)

// Capture keeps the first and last halves of what is written to it, up to a limit, and counts
// what it cut; backends use it to cap ExecResult.Output.
type Capture struct {
	limit int
	head  []byte
	tail  []byte // ring buffer of the last limit/2 bytes
	pos   int
	total int64
}

// NewCapture returns a Capture keeping at most limit bytes (DefaultOutputLimit when limit <= 0).
func NewCapture(limit int) *Capture {
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	return &Capture{limit: limit}
}

// Output returns the writer a backend sends an exec's output to, and the Capture behind it
// that caps ExecResult.Output: the writer feeds the capture and, when req.Stream is set, the
// live stream too.
func (req ExecRequest) Output() (*Capture, io.Writer) {
	c := NewCapture(req.OutputLimit)
	if req.Stream == nil {
		return c, c
	}
	return c, io.MultiWriter(c, req.Stream)
}

// Write implements io.Writer; it never fails.
func (c *Capture) Write(p []byte) (int, error) {
	n := len(p)
	c.total += int64(n)
	headCap := c.limit - c.limit/2
	if room := headCap - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	tailCap := c.limit / 2
	for len(p) > 0 && tailCap > 0 {
		if len(c.tail) < tailCap {
			k := min(tailCap-len(c.tail), len(p))
			c.tail = append(c.tail, p[:k]...)
			p = p[k:]
			continue
		}
		k := copy(c.tail[c.pos:], p)
		c.pos = (c.pos + k) % tailCap
		p = p[k:]
	}
	return n, nil
}

// Bytes returns the kept output, with a note where bytes were cut, and whether it cut.
func (c *Capture) Bytes() ([]byte, bool) {
	tail := append(append([]byte{}, c.tail[c.pos:]...), c.tail[:c.pos]...)
	kept := int64(len(c.head) + len(tail))
	out := append([]byte{}, c.head...)
	if c.total > kept {
		out = append(out, fmt.Sprintf("\n[... %d bytes cut ...]\n", c.total-kept)...)
	}
	return append(out, tail...), c.total > kept
}

var _ io.Writer = (*Capture)(nil)
