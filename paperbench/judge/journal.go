package judge

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/latentlab/latent/paperbench/rubric"
)

// Journal is the append-only record of graded leaves: a header line naming what is being
// graded, then one JSON line per graded leaf, synced to disk before the leaf counts as
// done. A line cut short by a crash is dropped when the journal is opened again.
type Journal struct {
	f    *os.File
	path string
}

// JournalEntry is one graded leaf in the journal.
type JournalEntry struct {
	Path         string          `json:"path"` // rubric.Path.String()
	ID           string          `json:"id"`
	Requirements string          `json:"requirements_sha256"`
	Score        float64         `json:"score"`
	Valid        bool            `json:"valid_score"`
	Explanation  string          `json:"explanation"`
	Metadata     json.RawMessage `json:"judge_metadata,omitempty"`
	Usage        Usage           `json:"token_usage,omitempty"`
	Cost         float64         `json:"cost_usd"`
	Retry        bool            `json:"retry,omitempty"`
}

type journalHeader struct {
	Journal     string `json:"paperbench_judge_journal"`
	Fingerprint string `json:"fingerprint"`
}

const journalKind = "v1"

// JournalPath returns the journal path used for the grader output out.
func JournalPath(out string) string { return out + ".journal.jsonl" }

// OpenJournal opens the journal at path, creating it for fingerprint when absent, and
// returns the leaves it holds by path (the last entry of a path wins). A journal written
// for another fingerprint is an error.
func OpenJournal(path, fingerprint string) (*Journal, map[string]JournalEntry, error) {
	entries := map[string]JournalEntry{}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return createJournal(path, fingerprint, entries)
	case err != nil:
		return nil, nil, fmt.Errorf("judge: journal: %w", err)
	}
	r := bufio.NewReader(bytes.NewReader(data))
	header, err := r.ReadBytes('\n')
	if err == io.EOF { // empty, or a header cut short
		return createJournal(path, fingerprint, entries)
	}
	var h journalHeader
	if json.Unmarshal(header, &h) != nil || h.Journal != journalKind {
		return nil, nil, fmt.Errorf("judge: %s line 1: not a judge journal", path)
	}
	if h.Fingerprint != fingerprint {
		return nil, nil, fmt.Errorf("judge: %s was written for another rubric, submission or judge setting; "+
			"remove it to start over, or grade to another output file", path)
	}
	good := int64(len(header))
	for line := 2; ; line++ {
		text, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // text, if any, is a line cut short by a crash: dropped below
		}
		var e JournalEntry
		if err := json.Unmarshal(text, &e); err != nil {
			return nil, nil, fmt.Errorf("judge: %s line %d: %w", path, line, err)
		}
		entries[e.Path] = e
		good += int64(len(text))
	}
	if err := os.Truncate(path, good); err != nil {
		return nil, nil, fmt.Errorf("judge: journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("judge: journal: %w", err)
	}
	return &Journal{f: f, path: path}, entries, nil
}

func createJournal(path, fingerprint string, entries map[string]JournalEntry) (*Journal, map[string]JournalEntry, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("judge: journal: %w", err)
	}
	j := &Journal{f: f, path: path}
	line, _ := json.Marshal(journalHeader{Journal: journalKind, Fingerprint: fingerprint})
	if err := j.write(append(line, '\n')); err != nil {
		f.Close()
		return nil, nil, err
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil { // make the new name durable
		dir.Sync()
		dir.Close()
	}
	return j, entries, nil
}

// Append records the graded leaves of tree and syncs the file.
func (j *Journal) Append(tree *rubric.Node, batch []gradedLeaf) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, b := range batch {
		node, err := tree.At(b.path)
		if err != nil {
			return err
		}
		r := b.result
		if err := enc.Encode(JournalEntry{
			Path: b.path.String(), ID: node.ID, Requirements: hashString(node.Requirements),
			Score: r.Score, Valid: r.Valid, Explanation: r.Explanation, Metadata: r.Metadata,
			Usage: r.Usage, Cost: r.Cost, Retry: r.Retry,
		}); err != nil {
			return fmt.Errorf("judge: journal %s: leaf %s: %w", j.path, b.path, err)
		}
	}
	return j.write(buf.Bytes())
}

func (j *Journal) write(data []byte) error {
	if _, err := j.f.Write(data); err != nil {
		return fmt.Errorf("judge: journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("judge: journal: %w", err)
	}
	return nil
}

// Close closes the journal file.
func (j *Journal) Close() error { return j.f.Close() }

// matches reports whether the entry is a final grade of node.
func (e JournalEntry) matches(node *rubric.Node) bool {
	return !e.Retry && node.IsLeaf() && e.ID == node.ID && e.Requirements == hashString(node.Requirements)
}

func (e JournalEntry) result() LeafResult {
	return LeafResult{
		Verdict:  Verdict{Valid: e.Valid, Score: e.Score, Explanation: e.Explanation},
		Metadata: e.Metadata, Usage: e.Usage, Cost: e.Cost,
	}
}

// fingerprint identifies the rubric tree and the grader.
func fingerprint(tree *rubric.Node, g Grader) string {
	h := sha256.New()
	rubric.Write(h, tree)
	fmt.Fprintf(h, "\n%s\n%s", g.Type(), g.Fingerprint())
	return hex.EncodeToString(h.Sum(nil))
}

func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
