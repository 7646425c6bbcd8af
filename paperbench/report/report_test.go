package report

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/rungroup"
	"github.com/latentlab/latent/paperbench/rungroup/rungrouptest"
)

func writeDemo(t *testing.T) (string, *Report) {
	t.Helper()
	dir, err := rungrouptest.Make(t.TempDir(), fixtures.Path(t, "paperbench", "papers"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := rungroup.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(g)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := r.Write(out); err != nil {
		t.Fatal(err)
	}
	return out, r
}

func TestReportFiles(t *testing.T) {
	out, r := writeDemo(t)
	for _, name := range []string{"ars", "categories", "failed", "cost", "time"} {
		data, err := os.ReadFile(filepath.Join(out, name+".png"))
		if err != nil {
			t.Fatalf("%s.png: %v", name, err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil || img.Bounds().Dx() != 8*pngDPI {
			t.Errorf("%s.png: %v, %v wide", name, err, img.Bounds())
		}
		svg, err := os.ReadFile(filepath.Join(out, name+".svg"))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s.svg: %v", name, err)
		}
	}
	if len(r.Figures) != 5 {
		t.Errorf("%d figures", len(r.Figures))
	}
}

func TestReportPage(t *testing.T) {
	out, r := writeDemo(t)
	raw, err := os.ReadFile(filepath.Join(out, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	html := string(raw)
	a, b := rungrouptest.PaperA, rungrouptest.PaperB
	for _, want := range []string{
		"ARS <strong id=\"ars\">" + formatSE(r.Summary.ARS) + "</strong> over 2 complete seed(s) (0, 1)",
		"Incomplete seeds (not graded for every paper, left out of the ARS): 2, 3",
		"<code>" + b + "/3/graded.json</code>", "<code>" + a + "/2/agent/usage.json</code>",
		`<span class="badge pending">running</span>`, `<span class="badge malformed">malformed</span>`,
		`<span class="badge failed">failed</span>`, `<img src="data:image/svg`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: no resource is fetched from anywhere (links to the figure files
	// beside the page are fine).
	if m := regexp.MustCompile(`(src|href)="(https?:)?//`).FindString(html); m != "" {
		t.Errorf("page refers to the network: %s", m)
	}
	if strings.Contains(html, "<script") || strings.Contains(html, "<link") {
		t.Error("page loads scripts or style sheets")
	}
}

func TestReportEmptyGroup(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "paper", "0"), 0o755) // a seed with nothing in it yet
	g, err := rungroup.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(g)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := r.Write(out); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(out, IndexFile))
	for _, want := range []string{"ARS <strong id=\"ars\">–</strong> over 0 complete seed(s)", "not graded", "No graded leaf failed."} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
