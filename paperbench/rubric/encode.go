package rubric

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Write writes the tree as JSON formatted exactly like the official Python code
// (json.dumps with indent=4 and ASCII escapes), followed by a newline. A tree whose root
// has a Grade is written as grader output, with the keys of GradedTaskNode.to_dict (id,
// requirements, weight, score, valid_score, task_category, explanation, judge_metadata,
// sub_tasks) and finegrained_task_category after task_category when it is set, which the
// official reader ignores. Other trees are written as rubric.json (TaskNode.to_dict).
// Integral weights are written as integers.
func Write(w io.Writer, root *Node) error {
	bw := bufio.NewWriter(w)
	e := encoder{w: bw, graded: root.Grade != nil}
	if err := e.node(Path{}, root, 0); err != nil {
		return err
	}
	bw.WriteByte('\n')
	return bw.Flush()
}

// WriteFile writes the tree to the named file like [Write], atomically: it writes a
// temporary file in the same folder, syncs it and renames it over path.
func WriteFile(path string, root *Node) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := Write(tmp, root); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

type encoder struct {
	w      *bufio.Writer
	graded bool
}

// key starts a member line: a comma ending the previous member (unless first), the
// indentation and the quoted key.
func (e *encoder) key(level int, name string, first bool) {
	if !first {
		e.w.WriteByte(',')
	}
	e.w.WriteByte('\n')
	e.w.WriteString(strings.Repeat("    ", level))
	writePythonString(e.w, name)
	e.w.WriteString(": ")
}

func (e *encoder) node(p Path, n *Node, level int) error {
	if e.graded && n.Grade == nil {
		return fmt.Errorf("rubric: node %s of a graded tree has no grade", p)
	}
	weight, err := pythonNumber(n.Weight, true)
	if err != nil {
		return fmt.Errorf("rubric: node %s: weight: %w", p, err)
	}
	e.w.WriteByte('{')
	e.key(level+1, "id", true)
	writePythonString(e.w, n.ID)
	e.key(level+1, "requirements", false)
	writePythonString(e.w, n.Requirements)
	e.key(level+1, "weight", false)
	e.w.WriteString(weight)
	if e.graded {
		err = e.gradeFields(p, n, level+1)
	} else {
		err = e.subTasks(p, n, level+1)
		e.category(level+1, "task_category", n.TaskCategory)
		e.category(level+1, "finegrained_task_category", n.FinegrainedCategory)
	}
	if err != nil {
		return err
	}
	e.w.WriteByte('\n')
	e.w.WriteString(strings.Repeat("    ", level))
	e.w.WriteByte('}')
	return nil
}

func (e *encoder) gradeFields(p Path, n *Node, level int) error {
	score, err := pythonNumber(n.Grade.Score, false)
	if err != nil {
		return fmt.Errorf("rubric: node %s: score: %w", p, err)
	}
	metadata, err := indentMetadata(n.Grade.JudgeMetadata, level)
	if err != nil {
		return fmt.Errorf("rubric: node %s: judge_metadata: %w", p, err)
	}
	e.key(level, "score", false)
	e.w.WriteString(score)
	e.key(level, "valid_score", false)
	e.w.WriteString(strconv.FormatBool(n.Grade.Valid))
	e.category(level, "task_category", n.TaskCategory)
	if n.FinegrainedCategory != "" {
		e.category(level, "finegrained_task_category", n.FinegrainedCategory)
	}
	e.key(level, "explanation", false)
	writePythonString(e.w, n.Grade.Explanation)
	e.key(level, "judge_metadata", false)
	e.w.Write(metadata)
	return e.subTasks(p, n, level)
}

func (e *encoder) category(level int, key, value string) {
	e.key(level, key, false)
	if value == "" {
		e.w.WriteString("null")
		return
	}
	writePythonString(e.w, value)
}

func (e *encoder) subTasks(p Path, n *Node, level int) error {
	e.key(level, "sub_tasks", false)
	if len(n.SubTasks) == 0 {
		e.w.WriteString("[]")
		return nil
	}
	e.w.WriteByte('[')
	for i, child := range n.SubTasks {
		if i > 0 {
			e.w.WriteByte(',')
		}
		e.w.WriteByte('\n')
		e.w.WriteString(strings.Repeat("    ", level+1))
		if err := e.node(p.Child(i), child, level+1); err != nil {
			return err
		}
	}
	e.w.WriteByte('\n')
	e.w.WriteString(strings.Repeat("    ", level))
	e.w.WriteByte(']')
	return nil
}

// indentMetadata re-encodes raw JSON the way Python's json.dumps(indent=4) would write it
// as a value at the given indentation level.
func indentMetadata(raw json.RawMessage, level int) ([]byte, error) {
	if raw == nil {
		return []byte("null"), nil
	}
	d := &decoder{r: bufio.NewReader(bytes.NewReader(raw)), lim: DefaultLimits, line: 1}
	var compact bytes.Buffer
	if err := d.value(Path{}, "", 0, &compact); err != nil {
		return nil, err
	}
	if c, err := d.skipSpace(); err == nil {
		return nil, fmt.Errorf("unexpected %q after the value", c)
	}
	var out bytes.Buffer
	err := json.Indent(&out, compact.Bytes(), strings.Repeat("    ", level), "    ")
	return out.Bytes(), err
}

// pythonNumber formats f like Python's repr of a float, or as an integer when asInt is set
// and f is integral (Python writes int weights without a fraction).
func pythonNumber(f float64, asInt bool) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%v cannot be written as JSON", f)
	}
	if asInt && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10), nil
	}
	// Python's repr uses scientific notation when the decimal exponent is < -4 or ≥ 16.
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	if exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:]); exp < -4 || exp >= 16 {
		return sci, nil
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s, nil
}

// writePythonString writes s as a JSON string the way Python's json.dumps does with
// ensure_ascii: every byte outside printable ASCII is escaped, non-ASCII as \uXXXX
// (UTF-16 surrogate pairs beyond the BMP, lower-case hex).
func writePythonString(w io.ByteWriter, s string) {
	w.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			w.WriteByte('\\')
			w.WriteByte(byte(r))
		case r == '\n':
			writeASCII(w, `\n`)
		case r == '\r':
			writeASCII(w, `\r`)
		case r == '\t':
			writeASCII(w, `\t`)
		case r == '\b':
			writeASCII(w, `\b`)
		case r == '\f':
			writeASCII(w, `\f`)
		case r >= ' ' && r <= '~':
			w.WriteByte(byte(r))
		case r > 0xFFFF:
			hi, lo := utf16.EncodeRune(r)
			writeASCII(w, fmt.Sprintf(`\u%04x\u%04x`, hi, lo))
		default:
			writeASCII(w, fmt.Sprintf(`\u%04x`, r))
		}
	}
	w.WriteByte('"')
}

func writeASCII(w io.ByteWriter, s string) {
	for i := 0; i < len(s); i++ {
		w.WriteByte(s[i])
	}
}
