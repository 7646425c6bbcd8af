package viewer

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/rungroup"
)

// Caps on what one response carries.
const (
	maxTranscript = 64 << 20
	maxLog        = 4 << 20 // the tail of a longer log is shown
)

type groupItem struct {
	Name   string `json:"name"`
	Papers int    `json:"papers"`
	Seeds  int    `json:"seeds"`
}

func (s *Server) groups(w http.ResponseWriter, _ *http.Request) {
	names, err := rungroup.Subdirs(s.fsys, ".")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	items := []groupItem{}
	for _, name := range names {
		item := groupItem{Name: name}
		papers, _ := rungroup.Subdirs(s.fsys, name)
		item.Papers = len(papers)
		for _, p := range papers {
			seeds, _ := rungroup.Subdirs(s.fsys, name+"/"+p)
			item.Seeds += len(seeds)
		}
		items = append(items, item)
	}
	writeJSON(w, items)
}

// seedInfo is a seed as the page lists it.
type seedInfo struct {
	Paper          string                    `json:"paper"`
	Name           string                    `json:"name"`
	State          string                    `json:"state"`
	Status         string                    `json:"status,omitempty"`
	Score          *float64                  `json:"score"`
	Leaves         int                       `json:"leaves"`
	Invalid        int                       `json:"invalid"`
	Reproduction   string                    `json:"reproduction,omitempty"` // "ok", "failed" or ""
	CostUSD        *float64                  `json:"cost_usd"`
	WorkingSeconds *float64                  `json:"working_seconds"`
	Tokens         map[string]map[string]int `json:"token_usage,omitempty"`
	Files          map[string]string         `json:"files"`
	Problems       []rungroup.Problem        `json:"problems"`
}

func infoOf(s *rungroup.Seed) seedInfo {
	in := seedInfo{Paper: s.Paper, Name: s.Name, State: s.State, Status: s.Status, Leaves: s.Leaves,
		Invalid: s.Invalid, Files: s.Files, Problems: s.Problems}
	if s.Tree != nil {
		score := s.Score()
		in.Score = &score
	}
	if s.Repro != nil {
		in.Reproduction = "ok"
		if s.Repro.Failed() {
			in.Reproduction = "failed"
		}
	}
	if s.Usage != nil {
		in.CostUSD, in.WorkingSeconds, in.Tokens = s.Usage.CostUSD, s.Usage.WorkingSeconds, s.Usage.Tokens
	}
	if in.Problems == nil {
		in.Problems = []rungroup.Problem{}
	}
	return in
}

type paperInfo struct {
	ID    string     `json:"id"`
	Mean  *float64   `json:"mean"`
	SE    *float64   `json:"se"`
	Seeds []seedInfo `json:"seeds"`
}

type groupInfo struct {
	Name       string             `json:"name"`
	ARS        *float64           `json:"ars"`
	SE         *float64           `json:"se"`
	Complete   []string           `json:"complete_seeds"`
	Incomplete []string           `json:"incomplete_seeds"`
	Papers     []paperInfo        `json:"papers"`
	Problems   []rungroup.Problem `json:"problems"`
}

func num(x float64) *float64 {
	if math.IsNaN(x) {
		return nil
	}
	return &x
}

func (s *Server) group(w http.ResponseWriter, r *http.Request) {
	name, err := segment(r.PathValue("group"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g, err := rungroup.LoadFS(s.fsys, name)
	if err != nil {
		http.Error(w, "no such run group", http.StatusNotFound)
		return
	}
	sum := rungroup.Summarize(g)
	info := groupInfo{Name: name, ARS: num(sum.ARS.Mean), SE: num(sum.ARS.SE), Complete: sum.Complete,
		Incomplete: sum.Incomplete, Papers: []paperInfo{}, Problems: g.Problems}
	for i, p := range g.Papers {
		pi := paperInfo{ID: p.ID, Mean: num(sum.Papers[i].Score.Mean), SE: num(sum.Papers[i].Score.SE)}
		for _, sd := range p.Seeds {
			pi.Seeds = append(pi.Seeds, infoOf(sd))
		}
		info.Papers = append(info.Papers, pi)
	}
	writeJSON(w, info)
}

func (s *Server) seed(w http.ResponseWriter, r *http.Request) {
	if sd := s.seedFromRequest(w, r); sd != nil {
		writeJSON(w, infoOf(sd))
	}
}

// node is a graded node as the page draws it.
type node struct {
	ID           string  `json:"id"`
	Requirements string  `json:"req"`
	Weight       float64 `json:"w"`
	Score        float64 `json:"s"`
	Valid        bool    `json:"v"`
	Category     string  `json:"cat,omitempty"`
	Finegrained  string  `json:"fine,omitempty"`
	Explanation  string  `json:"exp,omitempty"`
	Kids         []*node `json:"kids,omitempty"`
}

func toNode(n *rubric.Node) *node {
	out := &node{ID: n.ID, Requirements: n.Requirements, Weight: n.Weight, Score: n.Grade.Score,
		Valid: n.Grade.Valid, Category: n.TaskCategory, Finegrained: n.FinegrainedCategory}
	if n.IsLeaf() {
		out.Explanation = n.Grade.Explanation
	}
	for _, c := range n.SubTasks {
		out.Kids = append(out.Kids, toNode(c))
	}
	return out
}

func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	sd := s.seedFromRequest(w, r)
	if sd == nil {
		return
	}
	if sd.Tree == nil {
		writeJSON(w, map[string]any{"state": sd.State, "status": sd.Status, "problems": infoOf(sd).Problems})
		return
	}
	writeJSON(w, map[string]any{"state": sd.State, "root": toNode(sd.Tree)})
}

// transcriptLine is one line of a transcript: a JSON message, or the text of a line that
// is not JSON.
type transcriptLine struct {
	N     int             `json:"n"`
	Msg   json.RawMessage `json:"msg,omitempty"`
	Error string          `json:"error,omitempty"`
	Text  string          `json:"text,omitempty"`
}

func (s *Server) transcript(w http.ResponseWriter, r *http.Request) {
	sd := s.seedFromRequest(w, r)
	if sd == nil {
		return
	}
	file := sd.Files["transcript"]
	if file == "" {
		writeJSON(w, map[string]any{"file": nil, "lines": []transcriptLine{}})
		return
	}
	data, err := sd.ReadFile(file, maxTranscript)
	if err != nil {
		writeJSON(w, map[string]any{"file": file, "error": err.Error(), "lines": []transcriptLine{}})
		return
	}
	lines := []transcriptLine{}
	for i, text := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		l := transcriptLine{N: i + 1}
		var v map[string]any
		if err := json.Unmarshal(text, &v); err != nil {
			l.Error, l.Text = err.Error(), string(text)
		} else {
			l.Msg = json.RawMessage(text)
		}
		lines = append(lines, l)
	}
	writeJSON(w, map[string]any{"file": file, "lines": lines})
}

func (s *Server) reproduction(w http.ResponseWriter, r *http.Request) {
	sd := s.seedFromRequest(w, r)
	if sd == nil {
		return
	}
	out := map[string]any{"files": sd.Files, "problems": infoOf(sd).Problems}
	if f := sd.Files["manifest"]; f != "" {
		if data, err := sd.ReadFile(f, maxTranscript); err == nil && json.Valid(data) {
			out["record"] = json.RawMessage(data)
		}
	}
	if f := sd.Files["log"]; f != "" {
		text, cut, err := logTail(sd, f)
		if err != nil {
			out["log_error"] = err.Error()
		} else {
			out["log"], out["log_truncated"] = text, cut
		}
	}
	writeJSON(w, out)
}

// logTail reads the last maxLog bytes of the log and the number of bytes left out.
func logTail(sd *rungroup.Seed, file string) (string, int64, error) {
	f, err := sd.Open(file)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	var cut int64
	if seeker, ok := f.(io.Seeker); ok && st.Size() > maxLog {
		cut = st.Size() - maxLog
		if _, err := seeker.Seek(cut, io.SeekStart); err != nil {
			return "", 0, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxLog))
	return strings.ToValidUTF8(string(data), "\uFFFD"), cut, err
}
