package viewer

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/rungroup/rungrouptest"
)

const marker = "SECRET-MARKER-7f3a"

// serveDemo serves a runs folder holding the demo group, next to a secret folder that
// links inside the runs folder point to.
func serveDemo(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	base := t.TempDir()
	out := filepath.Join(base, "out")
	if _, err := rungrouptest.Make(out, fixtures.Path(t, "paperbench", "papers")); err != nil {
		t.Fatal(err)
	}
	copyWithFlip(t, filepath.Join(out, "demo"), filepath.Join(out, "demo2"))
	secret := filepath.Join(base, "secret", "leak", "p", "0")
	os.MkdirAll(secret, 0o755)
	graded := `{"id": "r", "requirements": "` + marker + `", "weight": 1, "score": 1, "valid_score": true, ` +
		`"task_category": "Code Development", "explanation": "` + marker + `", "judge_metadata": null, "sub_tasks": []}`
	os.WriteFile(filepath.Join(secret, "graded.json"), []byte(graded), 0o644)
	os.WriteFile(filepath.Join(base, "secret", "secret.txt"), []byte(`{"role": "user", "content": "`+marker+`"}`), 0o644)
	links := map[string]string{
		filepath.Join(out, "leak"):                                              filepath.Join(base, "secret", "leak"),
		filepath.Join(out, "demo", "sym"):                                       filepath.Join(base, "secret", "leak", "p"),
		filepath.Join(out, "other", "local", "0", "graded.json"):                filepath.Join(secret, "graded.json"),
		filepath.Join(out, "other", "local", "0", "agent", "transcript.jsonl"):  filepath.Join(base, "secret", "secret.txt"),
		filepath.Join(out, "other", "local", "0", "reproduce", "reproduce.log"): filepath.Join(base, "secret", "secret.txt"),
	}
	for link, target := range links {
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	v, err := New(out)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(v)
	t.Cleanup(func() { srv.Close(); v.Close() })
	return srv, out
}

// copyWithFlip copies the run group src to dst and flips the score of the first leaf of
// PaperA's seed 0 there.
func copyWithFlip(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dst, rungrouptest.PaperA, "0", "graded.json")
	tree, err := rubric.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := tree.At(rubric.Leaves(tree)[0])
	leaf.Grade.Score, leaf.Grade.Valid = 1-leaf.Grade.Score, true
	rubric.Score(tree)
	if err := rubric.WriteFile(file, tree); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body := get(t, url)
	if code != 200 {
		t.Fatalf("%s: %d %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

func TestNothingOutsideOut(t *testing.T) {
	srv, _ := serveDemo(t)
	refused := []string{
		"/api/group/leak", "/api/seed/leak/p/0", "/api/tree/leak/p/0", "/api/transcript/leak/p/0",
		"/api/group/..", "/api/group/%2e%2e", "/api/group/.%2e", "/api/group/..%2fsecret",
		"/api/tree/demo/..%2f..%2fsecret/0", "/api/tree/%2e%2e/secret/leak", "/api/tree/demo/sym/0",
		"/api/tree/.hidden/x/0", "/api/tree/demo/%00/0", "/api/diff?a=leak/p/0&b=leak/p/0",
		"/api/diff?a=../secret/leak&b=demo/../../secret", "/api/diff?a=demo%2f..%2f..%2fsecret%2fleak/p/0&b=x",
	}
	for _, u := range refused {
		code, body := get(t, srv.URL+u)
		if code == 200 || strings.Contains(body, marker) {
			t.Errorf("%s: %d %q", u, code, body)
		}
	}
	// Requests that may succeed (cleaned paths, seeds whose files link outside) but must
	// carry nothing from outside.
	for _, u := range []string{
		"/api/groups", "/api/group/demo", "/api/group/other", "/api/seed/other/local/0", "/api/tree/other/local/0",
		"/api/transcript/other/local/0", "/api/reproduction/other/local/0",
		"/static/../../secret/secret.txt", "/static/%2e%2e/%2e%2e/secret/secret.txt", "/api/group/demo/../../secret",
		"/static/..%2f..%2fsecret%2fsecret.txt",
	} {
		if _, body := get(t, srv.URL+u); strings.Contains(body, marker) {
			t.Errorf("%s served the secret: %q", u, body)
		}
	}
	var groups []groupItem
	getJSON(t, srv.URL+"/api/groups", &groups)
	if len(groups) != 3 || groups[0].Name != "demo" || groups[2].Name != "other" {
		t.Errorf("groups %+v: the link to a folder outside is listed", groups)
	}
}

// TestLinksOutNamed: a seed whose files link out of the runs folder shows them as problems.
func TestLinksOutNamed(t *testing.T) {
	srv, _ := serveDemo(t)
	var info seedInfo
	getJSON(t, srv.URL+"/api/seed/other/local/0", &info)
	var files []string
	for _, p := range info.Problems {
		files = append(files, p.File)
	}
	if info.State != "pending" || strings.Join(files, " ") != "graded.json reproduce/reproduce.log agent/transcript.jsonl" {
		t.Errorf("seed %+v", info)
	}
}

func TestReadOnly(t *testing.T) {
	srv, _ := serveDemo(t)
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		req, _ := http.NewRequest(m, srv.URL+"/api/groups", strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", m, resp.StatusCode)
		}
	}
}

func TestAPI(t *testing.T) {
	srv, _ := serveDemo(t)
	a, b := rungrouptest.PaperA, rungrouptest.PaperB
	var g groupInfo
	getJSON(t, srv.URL+"/api/group/demo", &g)
	if g.ARS == nil || len(g.Complete) != 2 || len(g.Problems) < 2 {
		t.Errorf("group %+v", g)
	}
	var tree struct {
		State string `json:"state"`
		Root  *node  `json:"root"`
	}
	getJSON(t, srv.URL+"/api/tree/demo/"+a+"/0", &tree)
	if tree.Root == nil || len(tree.Root.Kids) == 0 || tree.Root.Kids[0].Requirements == "" {
		t.Fatalf("tree %+v", tree)
	}
	var pending map[string]any
	getJSON(t, srv.URL+"/api/tree/demo/"+b+"/2", &pending)
	if pending["state"] != "pending" || pending["status"] != "running" {
		t.Errorf("running seed: %v", pending)
	}
	var tr struct {
		Lines []transcriptLine `json:"lines"`
	}
	getJSON(t, srv.URL+"/api/transcript/demo/"+a+"/0", &tr)
	if n := len(tr.Lines); n != 8 || tr.Lines[n-1].Error == "" || tr.Lines[2].Msg == nil {
		t.Errorf("transcript %+v", tr.Lines)
	}
	var rep map[string]any
	getJSON(t, srv.URL+"/api/reproduction/demo/"+a+"/1", &rep)
	if rep["record"] == nil || !strings.Contains(rep["log"].(string), "epoch 2") {
		t.Errorf("reproduction %v", rep)
	}
	var d struct {
		Leaves []leafDiff `json:"leaves"`
		Same   int        `json:"same"`
	}
	getJSON(t, srv.URL+"/api/diff?a=demo/"+a+"/0&b=demo/"+a+"/1", &d)
	if len(d.Leaves) == 0 || len(d.Leaves)+d.Same != 77 {
		t.Errorf("diff: %d differ, %d same", len(d.Leaves), d.Same)
	}
	var gd struct {
		Seeds []seedPair `json:"seeds"`
	}
	getJSON(t, srv.URL+"/api/groupdiff?a=demo&b=demo2", &gd)
	if len(gd.Seeds) != 7 || gd.Seeds[0].Differ == nil || *gd.Seeds[0].Differ != 1 || gd.Seeds[1].Differ == nil ||
		*gd.Seeds[1].Differ != 0 || gd.Seeds[5].Differ != nil {
		t.Errorf("group diff %+v", gd.Seeds)
	}
	if code, _ := get(t, srv.URL+"/api/groupdiff?a=demo&b=.."); code != 400 {
		t.Errorf("group diff with ..: %d", code)
	}
	if code, _ := get(t, srv.URL+"/api/seed/demo/"+a+"/99"); code != 404 {
		t.Errorf("missing seed: %d", code)
	}
	code, body := get(t, srv.URL+"/")
	if code != 200 || !strings.Contains(body, "/static/app.js") {
		t.Errorf("index: %d", code)
	}
}

func TestLogTail(t *testing.T) {
	srv, out := serveDemo(t)
	log := filepath.Join(out, "demo", rungrouptest.PaperA, "0", "reproduce", "reproduce.log")
	big := strings.Repeat("x", maxLog) + "THE END\n"
	os.WriteFile(log, []byte("HEAD\n"+big), 0o644)
	var rep map[string]any
	getJSON(t, srv.URL+"/api/reproduction/demo/"+rungrouptest.PaperA+"/0", &rep)
	text, _ := rep["log"].(string)
	if !strings.HasSuffix(text, "THE END\n") || strings.Contains(text, "HEAD") || rep["log_truncated"].(float64) != 13 {
		t.Errorf("log tail: %d bytes, truncated %v", len(text), rep["log_truncated"])
	}
}
