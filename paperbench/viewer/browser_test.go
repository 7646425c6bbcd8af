package viewer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/report"
	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/rungroup"
	"github.com/latentlab/latent/paperbench/rungroup/rungrouptest"
)

// The browser tests drive headless Chromium (the Debian package chromium, which .ci/run
// installs) through the viewer as a person would. Without a browser they are skipped,
// except in CI, where that is a failure. With PAPERBENCH_SCREENSHOTS=DIR they save
// screenshots of the viewer and of the report there; with PAPERBENCH_VIEWER_TIMING=1 they
// log first-paint and expand-all times on the lbcs rubric (not asserted).

func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no Chromium in CI: .ci/run should have installed the chromium package")
		}
		t.Skip("no Chromium on this machine (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

type step = chromedp.Action[chromedp.Void]

// visit opens the page at hash and waits until the viewer has drawn it.
func visit(base, hash string) step {
	return chromedp.Steps(chromedp.Navigate(base+"/"+hash), drawn(hash))
}

// drawn waits until the viewer has drawn the page at hash.
func drawn(hash string) step {
	return chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`body[data-ready=%q]`, hash)))
}

// jump changes the hash in the open page and waits until the viewer has drawn it.
func jump(hash string) step {
	return chromedp.Steps(js(fmt.Sprintf(`location.hash = %q`, hash)), drawn(hash))
}

// js runs a script in the page.
func js(expr string) step {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

func click(sel string) step { return chromedp.Click(chromedp.CSS(sel)) }

// choose picks a value of a select element as a person does: set, then "change".
func choose(sel, value string) step {
	return chromedp.Steps(chromedp.SetValue(chromedp.CSS(sel), value),
		js(fmt.Sprintf(`document.querySelector(%q).dispatchEvent(new Event("change"))`, sel)))
}

// chooseSelect is choose for a select that has no change handler.
func chooseSelect(sel, value string) step { return chromedp.SetValue(chromedp.CSS(sel), value) }

func do(t *testing.T, ctx context.Context, what string, steps ...step) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func countOf(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func wantText(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s: the page shows %q, which lacks %q", what, got, w)
		}
	}
}

func TestBrowser(t *testing.T) {
	ctx := browser(t)
	srv, out := serveDemo(t)
	g, err := rungroup.Load(filepath.Join(out, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := rungrouptest.PaperA, rungrouptest.PaperB
	var seed0 *rungroup.Seed
	for _, s := range g.Papers[0].Seeds {
		if s.Name == "0" {
			seed0 = s
		}
	}
	shots := os.Getenv("PAPERBENCH_SCREENSHOTS")

	t.Run("groups and group", func(t *testing.T) {
		do(t, ctx, "groups", visit(srv.URL, "#/"))
		wantText(t, "groups", textOf(t, ctx, "#groups"), "demo")
		do(t, ctx, "open demo", click(`#groups a[href="#/g/demo"]`), drawn("#/g/demo"))
		wantText(t, "papers", textOf(t, ctx, "#papers"), a, b, "running", "malformed", "reproduction failed", "invalid")
		wantText(t, "problems", textOf(t, ctx, ".problems"), b+"/3/graded.json", a+"/2/agent/usage.json")
		screenshot(t, ctx, shots, "viewer-group.png")
	})

	t.Run("tree expand and filter", func(t *testing.T) {
		do(t, ctx, "seed page", visit(srv.URL, "#/s/demo/"+a+"/0"))
		kids := len(seed0.Tree.SubTasks)
		if n := countOf(t, ctx, "li.node"); n != 1+kids {
			t.Errorf("first view shows %d nodes, want the root and its %d children", n, kids)
		}
		do(t, ctx, "expand one", click(`li[data-path="root/0"] > .row > .toggle`))
		if n, want := countOf(t, ctx, "li.node"), 1+kids+len(seed0.Tree.SubTasks[0].SubTasks); n != want {
			t.Errorf("after expanding root/0: %d nodes, want %d", n, want)
		}
		do(t, ctx, "expand all", click("#expand-all"))
		if n, want := countOf(t, ctx, "li.node"), rubric.StatsOf(seed0.Tree).Nodes; n != want {
			t.Errorf("expand all shows %d nodes, want %d", n, want)
		}
		if n := countOf(t, ctx, "li.leaf > .row > .badge.invalid"); n != seed0.Invalid || n == 0 {
			t.Errorf("%d leaves marked invalid, want %d", n, seed0.Invalid)
		}
		screenshot(t, ctx, shots, "viewer-tree.png")
		raWant, failedWant := leafCounts(seed0.Tree, rubric.ResultAnalysis)
		do(t, ctx, "filter category", choose("#cat-filter", rubric.ResultAnalysis))
		wantText(t, "category filter", textOf(t, ctx, "#tree-count"), fmt.Sprintf(" %d matching leaves", raWant))
		if n := countOf(t, ctx, "li.leaf"); n != raWant {
			t.Errorf("category filter shows %d leaves, want %d", n, raWant)
		}
		do(t, ctx, "filter failed", click("#failed-only"))
		wantText(t, "failed filter", textOf(t, ctx, "#tree-count"), fmt.Sprintf(" %d matching leaves", failedWant))
		if n := countOf(t, ctx, "li.leaf"); n != failedWant || failedWant == raWant {
			t.Errorf("failed filter shows %d leaves, want %d (of %d)", n, failedWant, raWant)
		}
		screenshot(t, ctx, shots, "viewer-filter.png")
		// A leaf's explanation, as the judge wrote it.
		leafPath, leaf := firstLeaf(seed0.Tree)
		do(t, ctx, "explanation", click("#failed-only"), choose("#cat-filter", ""),
			click(fmt.Sprintf(`li[data-path=%q] > .row > .toggle`, leafPath)))
		if exp := textOf(t, ctx, fmt.Sprintf(`li[data-path=%q] > .explanation`, leafPath)); exp != leaf.Grade.Explanation {
			t.Errorf("explanation %q, want %q", exp, leaf.Grade.Explanation)
		}
		do(t, ctx, "collapse all", click("#collapse-all"))
		if n := countOf(t, ctx, "li.node"); n != 1+kids {
			t.Errorf("collapse all leaves %d nodes", n)
		}
	})

	t.Run("transcript and reproduction", func(t *testing.T) {
		do(t, ctx, "transcript", visit(srv.URL, "#/s/demo/"+a+"/0"), click("#tab-transcript"),
			drawn("#/s/demo/"+a+"/0/transcript"))
		wantText(t, "transcript", textOf(t, ctx, "#transcript-summary"), "8 lines, 3 tool calls")
		wantText(t, "transcript", textOf(t, ctx, "#transcript"), "bash", `"cmd": "ls /home/paper"`,
			"RESULT OF CALL_1", "paper.md", "submit", "is not JSON")
		screenshot(t, ctx, shots, "viewer-transcript.png")
		do(t, ctx, "reproduction", jump("#/s/demo/"+a+"/1/reproduction"))
		wantText(t, "attempts", textOf(t, ctx, "#attempts"), "812.5 s")
		wantText(t, "log", textOf(t, ctx, "#log"), "epoch 2 loss 0.51")
		wantText(t, "seed heading", textOf(t, ctx, "h1"), "reproduction failed")
	})

	t.Run("seeds not graded", func(t *testing.T) {
		do(t, ctx, "running", visit(srv.URL, "#/s/demo/"+b+"/2"))
		wantText(t, "running seed", textOf(t, ctx, "#no-tree"), "no graded tree yet (status: running)")
		do(t, ctx, "malformed", jump("#/s/demo/"+b+"/3"))
		wantText(t, "malformed seed", textOf(t, ctx, "#no-tree"), "cannot be read")
		wantText(t, "malformed seed", textOf(t, ctx, ".problems"), "graded.json", "unexpected end of input")
		do(t, ctx, "missing", jump("#/s/demo/"+b+"/42"))
		wantText(t, "missing seed", textOf(t, ctx, "#load-error"), "404")
	})

	t.Run("diff", func(t *testing.T) {
		diffs, same := diffLeaves(seed0.Tree, g.Papers[0].Seeds[1].Tree)
		do(t, ctx, "compare", visit(srv.URL, "#/g/demo"), click("#cmp-go"), chromedp.WaitVisible(chromedp.CSS("#diff-summary")))
		wantText(t, "diff", textOf(t, ctx, "#diff-summary"), fmt.Sprintf("%d leaves differ, %d agree", len(diffs), same))
		if rows := countOf(t, ctx, "#diff tr"); rows != len(diffs)+1 {
			t.Errorf("diff table has %d rows, want %d and a header", rows, len(diffs))
		}
		screenshot(t, ctx, shots, "viewer-diff.png")
	})

	t.Run("group diff", func(t *testing.T) {
		do(t, ctx, "groups", visit(srv.URL, "#/"), chooseSelect("#gcmp-b", "demo2"), click("#gcmp-go"),
			drawn("#/gdiff?a=demo&b=demo2"))
		wantText(t, "group diff", textOf(t, ctx, "#gdiff"), "1 differ, 76 agree", "0 differ, 77 agree", "running", "malformed")
		screenshot(t, ctx, shots, "viewer-group-diff.png")
		do(t, ctx, "open the seed diff", click(`#gdiff a[href^="#/diff"]`), chromedp.WaitVisible(chromedp.CSS("#diff-summary")))
		wantText(t, "seed diff", textOf(t, ctx, "#diff-summary"), "1 leaves differ, 76 agree")
	})

	if shots != "" {
		t.Run("report screenshot", func(t *testing.T) { reportScreenshot(t, ctx, g, shots) })
	}
}

// leafCounts counts the leaves of a category, and those of them failed or invalid.
func leafCounts(tree *rubric.Node, category string) (leaves, failed int) {
	rubric.Walk(tree, func(_ rubric.Path, n *rubric.Node) bool {
		if n.IsLeaf() && n.TaskCategory == category {
			leaves++
			if !n.Grade.Valid || n.Grade.Score == 0 {
				failed++
			}
		}
		return true
	})
	return leaves, failed
}

func firstLeaf(tree *rubric.Node) (string, *rubric.Node) {
	p := rubric.Leaves(tree)[0]
	n, _ := tree.At(p)
	return p.String(), n
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	if dir == "" {
		return
	}
	shot := chromedp.FullScreenshot(100)
	if strings.HasPrefix(name, "viewer-") {
		shot = chromedp.CaptureScreenshot() // the window, as a person sees it
	}
	buf, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func reportScreenshot(t *testing.T, ctx context.Context, g *rungroup.Group, dir string) {
	r, err := report.Build(g)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := r.Write(out); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(out)))
	defer srv.Close()
	do(t, ctx, "report", chromedp.Navigate(srv.URL+"/index.html"), chromedp.WaitVisible(chromedp.CSS("#ars")))
	screenshot(t, ctx, dir, "report.png")
}

// TestBrowserTimingLBCS grades the largest rubric (lbcs, 1,471 nodes) with the dummy judge
// and logs, over 5 loads, the time from navigation to the painted tree and the time to
// expand all nodes (script, style and layout; then the next frame). Figures only, with
// PAPERBENCH_VIEWER_TIMING=1.
func TestBrowserTimingLBCS(t *testing.T) {
	if os.Getenv("PAPERBENCH_VIEWER_TIMING") == "" {
		t.Skip("set PAPERBENCH_VIEWER_TIMING=1 to measure")
	}
	ctx := browser(t)
	out := t.TempDir()
	tree, err := rungrouptest.Grade(fixtures.Path(t, "paperbench", "papers", "lbcs", "rubric.json"), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, "lbcs-dummy", "lbcs", "0")
	os.MkdirAll(dir, 0o755)
	if err := rubric.WriteFile(filepath.Join(dir, "graded.json"), tree); err != nil {
		t.Fatal(err)
	}
	v, err := New(out)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv := httptest.NewServer(v)
	defer srv.Close()
	const expandJS = `new Promise((done) => {
		const t0 = performance.now();
		document.getElementById("expand-all").click();
		const script = performance.now() - t0;
		void document.body.offsetHeight;
		const sync = performance.now() - t0;
		requestAnimationFrame(() => setTimeout(() => done([sync, performance.now() - t0, script,
			document.querySelectorAll("li.node").length])));
	})`
	for i := range 5 {
		hash := fmt.Sprintf("#/s/lbcs-dummy/lbcs/0?load=%d", i)
		do(t, ctx, "load", chromedp.Navigate("about:blank"), chromedp.Navigate(srv.URL+"/"+hash),
			chromedp.WaitReady(chromedp.CSS("#tree")))
		paint, err := chromedp.Run(ctx, chromedp.Poll[float64](`window.pbTreePainted`, chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		expand, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](expandJS, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("TIMING lbcs load %d: tree painted %.1f ms after navigation; expand all: script %.1f ms, with layout %.1f ms, next frame %.1f ms; %v nodes",
			i, paint, expand[2], expand[0], expand[1], expand[3])
		if int(expand[3]) != rubric.StatsOf(tree).Nodes {
			t.Errorf("expand all shows %v nodes, want %d", expand[3], rubric.StatsOf(tree).Nodes)
		}
	}
}
