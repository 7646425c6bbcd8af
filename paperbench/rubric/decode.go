package rubric

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits bound what [Limits.Parse] accepts, so that hostile JSON can exhaust neither the
// stack nor memory. A document that exceeds one is rejected with an [Issue] naming the limit.
type Limits struct {
	MaxBytes  int64 // size of the whole document
	MaxDepth  int   // depth of the deepest node (root = 0); also bounds nesting inside judge_metadata
	MaxString int   // bytes of one decoded string or number
	MaxNodes  int   // number of nodes in the tree
}

// DefaultLimits are generous for real data: the largest official rubric (pinn) is 2.4 MB
// with 2,551 nodes, depth 9 and 716-byte requirements.
var DefaultLimits = Limits{MaxBytes: 256 << 20, MaxDepth: 64, MaxString: 8 << 20, MaxNodes: 1 << 20}

// Parse reads a rubric or a graded tree with [DefaultLimits] and checks it with [Validate].
func Parse(r io.Reader) (*Node, error) { return DefaultLimits.Parse(r) }

// Load reads and checks the rubric or graded tree in the named file, like [Parse]; errors
// are prefixed with the file name.
func Load(path string) (*Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	root, err := Parse(f)
	if err != nil {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return root, err
}

// Parse reads a rubric (rubric.json) or a graded tree (grader output) from r. It reports
// every problem at once as [Issues]: JSON of the wrong type or a missing field found while
// reading, and the rule violations found by [Validate]. It returns the tree as far as it
// could be read together with the issues, or a nil tree when the document is not JSON or
// exceeds a limit. Keys it does not know are skipped, as the official reader does.
func (l Limits) Parse(r io.Reader) (*Node, error) {
	d := &decoder{r: bufio.NewReaderSize(r, 64<<10), lim: l, line: 1}
	root, err := d.document()
	if err != nil {
		// The fatal issue comes last, after the problems found before it.
		return nil, append(d.issues, d.wrap(Path{}, "", err).(Issue))
	}
	if err := Validate(root); err != nil {
		d.issues = append(d.issues, err.(Issues)...)
	}
	return root, d.issues.err()
}

// decoder is a streaming JSON reader specialised for rubric trees. It never holds more than
// one string of the document at a time beyond the tree it builds.
type decoder struct {
	r         *bufio.Reader
	lim       Limits
	off       int64 // bytes consumed
	line, col int   // position of the next byte, 1-based line
	nodes     int
	issues    Issues // non-fatal problems: wrong types, missing fields
	str       []byte // scratch buffer for strings
}

// The kinds of JSON value, as named in messages.
const (
	kindString = "string"
	kindNumber = "number"
	kindBool   = "boolean"
	kindNull   = "null"
	kindObject = "object"
	kindArray  = "array"
)

// scalar is a JSON value read by decoder.scalar; containers are skipped and only their kind kept.
type scalar struct {
	kind string
	text string // decoded string, number literal, or "true"/"false"
}

func (d *decoder) document() (*Node, error) {
	root, err := d.node(Path{}, 0)
	if err != nil {
		return nil, err
	}
	c, err := d.skipSpace()
	if err == nil {
		return nil, d.fail(Path{}, "", "unexpected %q after the root node", c)
	}
	if err != io.EOF {
		return nil, d.wrap(Path{}, "", err)
	}
	if root == nil {
		last := len(d.issues) - 1
		err, d.issues = d.issues[last], d.issues[:last]
		return nil, err
	}
	return root, nil
}

// node reads one node object at path p. It returns a nil node and no error when the value
// is not an object (an issue is recorded and the value skipped).
func (d *decoder) node(p Path, depth int) (*Node, error) {
	if depth > d.lim.MaxDepth {
		return nil, d.fail(p, "", "tree deeper than the limit of %d levels", d.lim.MaxDepth)
	}
	if d.nodes++; d.nodes > d.lim.MaxNodes {
		return nil, d.fail(p, "", "more than the limit of %d nodes", d.lim.MaxNodes)
	}
	c, err := d.skipSpace()
	if err != nil {
		return nil, d.wrap(p, "", err)
	}
	if c != '{' {
		v, err := d.scalar(p, "", 0)
		if err == nil {
			d.issue(p, "", "a node must be a JSON object, got %s", v.kind)
		}
		return nil, err
	}
	n := &Node{}
	seen := map[string]bool{}
	err = d.object(p, "", func(key string) error {
		if seen[key] {
			d.issue(p, key, "duplicate key")
		}
		seen[key] = true
		return d.field(p, depth, n, key)
	})
	if err != nil {
		return nil, err
	}
	d.checkPresent(p, n, seen)
	return n, nil
}

// checkPresent records the required keys that a node object lacked.
func (d *decoder) checkPresent(p Path, n *Node, seen map[string]bool) {
	required := []string{"id", "requirements", "weight", "sub_tasks"}
	if seen["score"] || seen["valid_score"] || seen["explanation"] {
		required = append(required, "score", "valid_score", "explanation")
		if n.Grade == nil {
			n.Grade = &Grade{}
		}
	}
	for _, key := range required {
		if !seen[key] {
			d.issue(p, key, "missing required field")
		}
	}
}

// field reads the value of one key of a node object.
func (d *decoder) field(p Path, depth int, n *Node, key string) error {
	switch key {
	case "sub_tasks":
		return d.subTasks(p, depth, n)
	case "judge_metadata":
		var buf bytes.Buffer
		if err := d.value(p, key, 0, &buf); err != nil {
			return err
		}
		if buf.String() != "null" {
			d.grade(n).JudgeMetadata = buf.Bytes()
		}
		return nil
	}
	v, err := d.scalar(p, key, 0)
	if err != nil {
		return err
	}
	switch key {
	case "id":
		n.ID = d.want(p, key, v, kindString)
	case "requirements":
		n.Requirements = d.want(p, key, v, kindString)
	case "task_category":
		n.TaskCategory = d.want(p, key, v, kindString, kindNull)
	case "finegrained_task_category":
		n.FinegrainedCategory = d.want(p, key, v, kindString, kindNull)
	case "explanation":
		d.grade(n).Explanation = d.want(p, key, v, kindString)
	case "valid_score":
		d.grade(n).Valid = d.truth(p, key, v)
	case "weight":
		n.Weight = d.number(p, key, v)
	case "score":
		d.grade(n).Score = d.number(p, key, v)
	}
	return nil
}

func (d *decoder) grade(n *Node) *Grade {
	if n.Grade == nil {
		n.Grade = &Grade{}
	}
	return n.Grade
}

func (d *decoder) subTasks(p Path, depth int, n *Node) error {
	c, err := d.skipSpace()
	if err != nil {
		return d.wrap(p, "sub_tasks", err)
	}
	if c != '[' {
		v, err := d.scalar(p, "sub_tasks", 0)
		if err == nil {
			d.issue(p, "sub_tasks", "must be an array, got %s", v.kind)
		}
		return err
	}
	return d.array(p, "sub_tasks", func(i int) error {
		child, err := d.node(p.Child(i), depth+1)
		if child != nil {
			n.SubTasks = append(n.SubTasks, child)
		}
		return err
	})
}

// want returns the text of v when its kind is one of kinds ("" for null), and records an
// issue otherwise.
func (d *decoder) want(p Path, key string, v scalar, kinds ...string) string {
	for _, k := range kinds {
		if v.kind == k {
			return v.text
		}
	}
	d.issue(p, key, "must be a %s, got %s", kinds[0], describe(v))
	return ""
}

// truth converts a boolean, or a number as Python's truthiness would (the official pinn
// JudgeEval tree stores valid_score as 1.0 on 362 nodes).
func (d *decoder) truth(p Path, key string, v scalar) bool {
	if v.kind == kindNumber {
		f := d.number(p, key, v)
		return f != 0
	}
	return d.want(p, key, v, kindBool) == "true"
}

// number converts a JSON number, recording an issue for other kinds and for values
// outside the float64 range (and returning 0 then, so that the problem is reported once).
func (d *decoder) number(p Path, key string, v scalar) float64 {
	text := d.want(p, key, v, kindNumber)
	if text == "" {
		return 0
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		d.issue(p, key, "number %s is out of range", text)
		return 0
	}
	return f
}

func describe(v scalar) string {
	if v.kind == kindString {
		if len(v.text) > 40 {
			return fmt.Sprintf("string %q…", v.text[:40])
		}
		return fmt.Sprintf("string %q", v.text)
	}
	if v.text != "" {
		return v.kind + " " + v.text
	}
	return v.kind
}

func (d *decoder) issue(p Path, field, format string, args ...any) {
	d.issues = append(d.issues, Issue{Path: p, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// fail returns a fatal issue that names the position in the document.
func (d *decoder) fail(p Path, field, format string, args ...any) error {
	msg := fmt.Sprintf("line %d, column %d: ", d.line, d.col+1) + fmt.Sprintf(format, args...)
	return Issue{Path: p, Field: field, Msg: msg}
}

// wrap turns a read error into a fatal issue; issues pass through.
func (d *decoder) wrap(p Path, field string, err error) error {
	var issue Issue
	switch {
	case errors.As(err, &issue):
		return issue
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return d.fail(p, field, "unexpected end of input")
	case err == errTooLarge:
		return d.fail(p, field, "document larger than the limit of %d bytes", d.lim.MaxBytes)
	}
	return d.fail(p, field, "%v", err)
}

var errTooLarge = errors.New("document too large")

// read consumes one byte.
func (d *decoder) read() (byte, error) {
	c, err := d.r.ReadByte()
	if err != nil {
		return 0, err
	}
	if d.off++; d.off > d.lim.MaxBytes {
		return 0, errTooLarge
	}
	if c == '\n' {
		d.line, d.col = d.line+1, 0
	} else {
		d.col++
	}
	return c, nil
}

// skipSpace consumes white space and returns the next byte without consuming it.
func (d *decoder) skipSpace() (byte, error) {
	for {
		b, err := d.r.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			if _, err := d.read(); err != nil {
				return 0, err
			}
		default:
			return b[0], nil
		}
	}
}

// expect consumes white space and then the byte want.
func (d *decoder) expect(p Path, field string, want byte) error {
	c, err := d.skipSpace()
	if err != nil {
		return d.wrap(p, field, err)
	}
	if c != want {
		return d.fail(p, field, "expected %q, found %q", want, c)
	}
	if _, err = d.read(); err != nil {
		return d.wrap(p, field, err)
	}
	return nil
}

// object reads a JSON object, calling onKey after each key and its colon; onKey must
// consume the value.
func (d *decoder) object(p Path, field string, onKey func(key string) error) error {
	if err := d.expect(p, field, '{'); err != nil {
		return err
	}
	return d.elements(p, field, '}', func(int) error {
		if err := d.expectQuote(p, field); err != nil {
			return err
		}
		key, err := d.stringBody(p, field)
		if err != nil {
			return err
		}
		if err := d.expect(p, key, ':'); err != nil {
			return err
		}
		return onKey(key)
	})
}

func (d *decoder) expectQuote(p Path, field string) error {
	c, err := d.skipSpace()
	if err != nil {
		return d.wrap(p, field, err)
	}
	if c != '"' {
		return d.fail(p, field, "expected a string key, found %q", c)
	}
	return nil
}

// array reads a JSON array, calling onElem for each element; onElem must consume it.
func (d *decoder) array(p Path, field string, onElem func(i int) error) error {
	if err := d.expect(p, field, '['); err != nil {
		return err
	}
	return d.elements(p, field, ']', onElem)
}

// elements reads comma-separated elements up to the closing byte end, the opening byte
// having been consumed.
func (d *decoder) elements(p Path, field string, end byte, onElem func(i int) error) error {
	c, err := d.skipSpace()
	if err != nil {
		return d.wrap(p, field, err)
	}
	if c == end {
		if _, err := d.read(); err != nil {
			return d.wrap(p, field, err)
		}
		return nil
	}
	for i := 0; ; i++ {
		if err := onElem(i); err != nil {
			return err
		}
		c, err := d.skipSpace()
		if err != nil {
			return d.wrap(p, field, err)
		}
		if _, err := d.read(); err != nil {
			return d.wrap(p, field, err)
		}
		switch c {
		case end:
			return nil
		case ',':
		default:
			return d.fail(p, field, "expected ',' or %q, found %q", end, c)
		}
	}
}

// scalar reads any JSON value; objects and arrays are skipped and reported only by kind.
func (d *decoder) scalar(p Path, field string, depth int) (scalar, error) {
	c, err := d.skipSpace()
	if err != nil {
		return scalar{}, d.wrap(p, field, err)
	}
	switch c {
	case '{', '[':
		kind := map[byte]string{'{': kindObject, '[': kindArray}[c]
		return scalar{kind: kind}, d.value(p, field, depth, nil)
	case '"':
		s, err := d.stringBody(p, field)
		return scalar{kind: kindString, text: s}, err
	case 't', 'f', 'n':
		return d.literal(p, field)
	}
	text, err := d.numberLiteral(p, field)
	return scalar{kind: kindNumber, text: text}, err
}

// value reads any JSON value, writing it compactly to out unless out is nil. Nesting
// deeper than the depth limit is rejected.
func (d *decoder) value(p Path, field string, depth int, out *bytes.Buffer) error {
	if depth > d.lim.MaxDepth {
		return d.fail(p, field, "value nested deeper than the limit of %d levels", d.lim.MaxDepth)
	}
	c, err := d.skipSpace()
	if err != nil {
		return d.wrap(p, field, err)
	}
	sep := func(i int) {
		if i > 0 && out != nil {
			out.WriteByte(',')
		}
	}
	switch c {
	case '{':
		writeByte(out, '{')
		i := 0
		err = d.object(p, field, func(key string) error {
			sep(i)
			i++
			if out != nil {
				writePythonString(out, key)
				out.WriteByte(':')
			}
			return d.value(p, field, depth+1, out)
		})
		writeByte(out, '}')
	case '[':
		writeByte(out, '[')
		err = d.array(p, field, func(i int) error {
			sep(i)
			return d.value(p, field, depth+1, out)
		})
		writeByte(out, ']')
	default:
		var v scalar
		v, err = d.scalar(p, field, depth)
		if err == nil && out != nil {
			switch v.kind {
			case kindString:
				writePythonString(out, v.text)
			case kindNull:
				out.WriteString("null")
			default:
				out.WriteString(v.text)
			}
		}
	}
	return err
}

func writeByte(out *bytes.Buffer, c byte) {
	if out != nil {
		out.WriteByte(c)
	}
}

// literal reads true, false or null.
func (d *decoder) literal(p Path, field string) (scalar, error) {
	var word []byte
	for len(word) < 5 {
		b, err := d.r.Peek(1)
		if err != nil || b[0] < 'a' || b[0] > 'z' {
			break
		}
		c, err := d.read()
		if err != nil {
			return scalar{}, d.wrap(p, field, err)
		}
		word = append(word, c)
	}
	switch string(word) {
	case "true", "false":
		return scalar{kind: kindBool, text: string(word)}, nil
	case "null":
		return scalar{kind: kindNull}, nil
	}
	return scalar{}, d.fail(p, field, "invalid literal %q", word)
}

// numberLiteral reads a number and checks it against the JSON grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (d *decoder) numberLiteral(p Path, field string) (string, error) {
	var lit []byte
	for {
		b, err := d.r.Peek(1)
		if err != nil || !bytes.ContainsRune([]byte("0123456789+-.eE"), rune(b[0])) {
			break
		}
		if len(lit) >= d.lim.MaxString {
			return "", d.fail(p, field, "number longer than the limit of %d bytes", d.lim.MaxString)
		}
		c, err := d.read()
		if err != nil {
			return "", d.wrap(p, field, err)
		}
		lit = append(lit, c)
	}
	if !validNumber(lit) {
		if len(lit) == 0 {
			c, _ := d.skipSpace()
			return "", d.fail(p, field, "unexpected %q where a value should be", c)
		}
		return "", d.fail(p, field, "invalid number %q", lit)
	}
	return string(lit), nil
}

func validNumber(s []byte) bool {
	digits := func() int {
		n := 0
		for len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
			s, n = s[1:], n+1
		}
		return n
	}
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) > 0 && s[0] == '0' {
		s = s[1:]
	} else if digits() == 0 {
		return false
	}
	if len(s) > 0 && s[0] == '.' {
		s = s[1:]
		if digits() == 0 {
			return false
		}
	}
	if len(s) > 0 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		if digits() == 0 {
			return false
		}
	}
	return len(s) == 0
}

// stringBody reads a string whose opening quote is the next byte, decoding escapes.
func (d *decoder) stringBody(p Path, field string) (string, error) {
	if _, err := d.read(); err != nil {
		return "", d.wrap(p, field, err)
	}
	d.str = d.str[:0]
	for {
		c, err := d.read()
		if err != nil {
			return "", d.wrap(p, field, err)
		}
		switch {
		case c == '"':
			if !utf8.Valid(d.str) {
				return "", d.fail(p, field, "string is not valid UTF-8")
			}
			return string(d.str), nil
		case c == '\\':
			err = d.escape(p, field)
		case c < 0x20:
			err = d.fail(p, field, "control character %#x in string", c)
		default:
			d.str = append(d.str, c)
		}
		if err != nil {
			return "", err
		}
		if len(d.str) > d.lim.MaxString {
			return "", d.fail(p, field, "string longer than the limit of %d bytes", d.lim.MaxString)
		}
	}
}

var simpleEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escape decodes the escape sequence after a backslash. A surrogate that does not pair with
// the \u escape that follows it becomes U+FFFD, as in encoding/json.
func (d *decoder) escape(p Path, field string) error {
	c, err := d.read()
	if err != nil {
		return d.wrap(p, field, err)
	}
	if plain, ok := simpleEscapes[c]; ok {
		d.str = append(d.str, plain)
		return nil
	}
	if c != 'u' {
		return d.fail(p, field, "invalid escape \\%c in string", c)
	}
	var hex [4]byte
	for i := range hex {
		if hex[i], err = d.read(); err != nil {
			return d.wrap(p, field, err)
		}
	}
	r, ok := parseHex4(hex[:])
	if !ok {
		return d.fail(p, field, "invalid escape \\u%s in string", hex[:])
	}
	if utf16.IsSurrogate(r) {
		r = d.lowSurrogate(r)
	}
	d.str = utf8.AppendRune(d.str, r)
	return nil
}

// lowSurrogate combines the high surrogate hi with a following \uXXXX escape when the two
// form a pair, consuming the escape; otherwise it returns U+FFFD and consumes nothing.
func (d *decoder) lowSurrogate(hi rune) rune {
	next, _ := d.r.Peek(6)
	if len(next) < 6 || next[0] != '\\' || next[1] != 'u' {
		return utf8.RuneError
	}
	lo, ok := parseHex4(next[2:])
	pair := utf16.DecodeRune(hi, lo)
	if !ok || pair == utf8.RuneError {
		return utf8.RuneError
	}
	for range 6 {
		d.read() // the bytes were peeked, so the reads cannot fail short of the size limit
	}
	return pair
}

func parseHex4(b []byte) (rune, bool) {
	v, err := strconv.ParseUint(string(b), 16, 16)
	return rune(v), err == nil
}
