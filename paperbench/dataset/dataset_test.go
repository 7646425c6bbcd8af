package dataset

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

func openFixtures(t *testing.T) *Dataset {
	d, err := Open(fixtures.Path(t, "paperbench"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSplits(t *testing.T) {
	d := openFixtures(t)
	sizes := map[string]int{"all": 20, "dev": 3, "lite": 5, "human": 5, "debug": 1, "testing": 1}
	got := map[string][]string{}
	for _, name := range Splits {
		ids, err := d.Split(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != sizes[name] {
			t.Errorf("split %s has %d papers, want %d", name, len(ids), sizes[name])
		}
		got[name] = ids
	}
	if got["all"][0] != "fre" || got["all"][19] != "ftrl" || got["debug"][0] != "rice" || got["testing"][0] != "lca-on-the-line" {
		t.Errorf("splits out of order or wrong: all %v, debug %v, testing %v", got["all"], got["debug"], got["testing"])
	}
	lite, human := slices.Sorted(slices.Values(got["lite"])), slices.Sorted(slices.Values(got["human"]))
	if !slices.Equal(lite, human) {
		t.Errorf("lite %v and human %v differ", lite, human)
	}
	folders, err := d.PaperIDs()
	if err != nil {
		t.Fatal(err)
	}
	if union := slices.Sorted(slices.Values(append(got["all"], got["dev"]...))); !slices.Equal(union, folders) {
		t.Errorf("all + dev = %v, folders = %v", union, folders)
	}
	if _, err := d.Split("nope"); err == nil {
		t.Error("unknown split accepted")
	}
}

func TestFixturePapers(t *testing.T) {
	d := openFixtures(t)
	ids, _ := d.PaperIDs()
	for _, id := range ids {
		p, err := d.Paper(id)
		if err != nil {
			t.Fatal(err)
		}
		wantID, wantURLs := id, 1
		switch id {
		case "stochastic-interpolants":
			wantID = "stochastic-interpolant"
		case "self-expansion", "semantic-self-consistency":
			wantURLs = 0 // blacklist.txt is the literal "none"
		}
		if p.Config.ID != wantID || p.Config.Title == "" || len(p.Blacklist) != wantURLs {
			t.Errorf("%s: config %+v, blacklist %v", id, p.Config, p.Blacklist)
		}
		if len(p.Blacklist) > 0 && !strings.HasPrefix(p.Blacklist[0], "https://github.com/") {
			t.Errorf("%s: blacklist %v", id, p.Blacklist)
		}
		for _, problem := range Check(p.Dir) {
			if !problem.Warning {
				t.Errorf("%s: %s", id, problem)
			}
		}
		if _, err := p.Read(PaperMarkdown); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: reading absent paper.md: %v", id, err)
		}
	}
	p, _ := d.Paper("rice")
	if p.Config.Title != "RICE: Breaking Through the Training Bottlenecks of Reinforcement Learning with Explanation" {
		t.Errorf("rice title %q", p.Config.Title)
	}
	if _, err := d.Paper("../papers"); err == nil {
		t.Error("paper id with a slash accepted")
	}
}

const pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n"

// writePaper makes a paper folder with the given files below a fake Git work tree.
func writePaper(t *testing.T, files map[string]string) string {
	repo := t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repo, "data", "papers", "demo")
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLFSPointersAndCheck(t *testing.T) {
	rubric := `{"id": "r", "requirements": "all", "weight": 1, "sub_tasks": [{"id": "l", "requirements": "x", "weight": -2, "sub_tasks": []}]}`
	dir := writePaper(t, map[string]string{
		ConfigFile: "id: other\ntitle: 'It''s a demo' # note\n", BlacklistFile: "# none here\nnone\n", RubricFile: rubric,
		PaperMarkdown: pointer, AddendumFile: "short\n", "assets/fig.png": pointer, JudgeAddendumFile: "notes",
	})
	p, err := LoadPaper(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Config.Title != "It's a demo" || len(p.Blacklist) != 0 {
		t.Errorf("config %+v blacklist %v", p.Config, p.Blacklist)
	}
	_, err = p.Read(PaperMarkdown)
	var lfs *LFSPointerError
	if !errors.As(err, &lfs) || lfs.Size != 12345 || !strings.HasPrefix(lfs.OID, "sha256:4d7a") ||
		!strings.Contains(err.Error(), `git lfs pull --include "data/papers/demo/**" --exclude ""`) {
		t.Errorf("pointer read as %v", err)
	}
	var got []string
	for _, problem := range Check(dir) {
		got = append(got, filepath.Base(problem.File)+" "+strings.Fields(problem.String())[1])
	}
	want := []string{"config.yaml warning:", "rubric.json error:", "rubric.json error:", "paper.md error:",
		"paper.pdf warning:", "fig.png error:"}
	if !slices.Equal(got, want) {
		t.Errorf("Check found %v, want %v", got, want)
	}
}

func TestParseConfig(t *testing.T) {
	good := map[string]Config{
		"id: rice\ntitle: \"RICE: Breaking \\\"Through\\\"\"\n":   {"rice", `RICE: Breaking "Through"`},
		"# c\n---\nid: a # comment\ntitle: What Will? Forget\r\n": {"a", "What Will? Forget"},
		"id: 'x'\ntitle: 'a ''b'''\nextra: 1\n":                   {"x", "a 'b'"},
	}
	for doc, want := range good {
		got, err := ParseConfig([]byte(doc))
		if err != nil || got != want {
			t.Errorf("ParseConfig(%q) = %+v, %v; want %+v", doc, got, err, want)
		}
	}
	bad := map[string]string{
		"id: a\n":                        `missing or empty key "title"`,
		"id: a\ntitle: t\nid: b\n":       `line 3: duplicate key "id"`,
		"id: a\ntitle:\n  nested: x\n":   `line 2: key "title": unsupported value ""`,
		"id: a\ntitle: \"open\n":         `line 2: key "title": unterminated`,
		"id: a\ntitle: a: b\n":           `contains ": "; quote it`,
		"id: a\ntitle: [x]\n":            "only plain or quoted scalars",
		"id: a\ntitle: \"x\" y\n":        `unexpected "y" after the quoted value`,
		"- a\n":                          "expected `key: value`",
		"id: a\ntitle: \"bad \\q\"\n":    "unsupported escape",
		"id: a\ntitle: 'x' 'y'\n":        "after the quoted value",
		"id: a\ntitle: |\n  block\n":     "only plain or quoted scalars",
		"id: a\ntitle: 'unterminated\n":  "unterminated single-quoted",
		"id: a\n\"ti tle\": x\n":         "expected `key: value`",
		"id: a\ntitle: \"\"\n":           `missing or empty key "title"`,
		"id: a\ntitle: ok\n\tother: x\n": "indented line",
	}
	for doc, want := range bad {
		_, err := ParseConfig([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseConfig(%q) error %v, want %q", doc, err, want)
		}
	}
}

// FuzzParseConfig checks that config parsing never panics and that what it accepts has
// both keys.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("id: rice\ntitle: \"RICE: x\"\n"))
	f.Add([]byte("id: 'a'\ntitle: 'b''c' # d\n"))
	f.Add([]byte("id: a\ntitle: \"\\u00e9\\\"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err == nil && (c.ID == "" || c.Title == "") {
			t.Fatalf("accepted %q without id or title: %+v", data, c)
		}
	})
}
