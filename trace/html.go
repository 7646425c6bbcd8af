package trace

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/latentlab/latent/internal/atomicfile"
	"html/template"
)

// pageToken is what the HTML page knows of one token.
type pageToken struct {
	Text      string      `json:"text"`
	Label     string      `json:"label"`
	Stats     string      `json:"stats"`
	StepSize  []float64   `json:"step"`
	SettledAt int         `json:"settled"`
	PC        [][]float64 `json:"pc"` // [t][component]
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>latent trace</title>
<style>
body{font-family:sans-serif;margin:1.5em;max-width:70em}
.tok{display:inline-block;padding:.2em .35em;margin:.1em;border:2px solid #ccc;border-radius:4px;font-family:monospace;cursor:default}
.fixed_point{border-color:#4a4}.orbit{border-color:#c3c}.slider{border-color:#e80}.converging{border-color:#39c}.not_converged{border-color:#d33}
#info{font-family:monospace;white-space:pre;min-height:3em;background:#f4f4f4;padding:.5em}
img{max-width:100%}
</style></head><body>
<h1>latent trace</h1>
<p>{{.Summary}}</p>
<p>Border: label (<span class="tok fixed_point">fixed_point</span><span class="tok orbit">orbit</span><span class="tok slider">slider</span><span class="tok converging">converging</span><span class="tok not_converged">not_converged</span>).
Fill: relative step size ‖x<sub>t</sub> − x<sub>t−1</sub>‖/‖x<sub>t</sub>‖ at the chosen step on a log scale (dark: moving, white: at rest below 1e-6).</p>
<p>step <input id="step" type="range" min="1" max="{{.Steps}}" value="1" style="width:40em"> <span id="stepv">1</span></p>
<div id="tokens"></div>
<div id="info">hover a token</div>
{{range .Pictures}}<h2>{{.Title}}</h2><img alt="{{.Title}}" src="data:image/png;base64,{{.Data}}">
{{end}}
<script>
const toks = {{.Tokens}};
const box = document.getElementById("tokens"), info = document.getElementById("info");
const slider = document.getElementById("step"), stepv = document.getElementById("stepv");
const els = toks.map((t, i) => {
  const e = document.createElement("span");
  e.className = "tok " + t.label; e.textContent = t.text;
  e.onmouseenter = () => show(i); box.appendChild(e); return e;
});
function shade(r) { const v = Math.max(0, Math.min(1, (Math.log10(r || 1e-12) + 6) / 6)); const g = Math.round(255 * (1 - v)); return "rgb(255," + g + "," + g + ")"; }
function show(i) {
  const t = toks[i], s = +slider.value, pc = t.pc[s];
  info.textContent = "token " + i + " " + JSON.stringify(t.text) + "  " + t.label + "  settled at step " + t.settled + "\n" + t.stats +
    "\nstep " + s + ": relative step " + (t.step[s-1] || 0).toExponential(2) + "  PC1..6 " + pc.map(v => v.toFixed(2)).join(" ");
}
function draw() { const s = +slider.value; stepv.textContent = s; els.forEach((e, i) => e.style.background = shade(toks[i].step[s-1])); }
slider.oninput = draw; draw();
</script></body></html>
`))

// Picture is a PNG shown on the HTML page under its title.
type Picture struct {
	Title string
	PNG   []byte
}

// WriteHTML writes one self-contained page (no network): the tokens with their labels, a step
// slider that shades each token by its step size, hover details with PC coordinates, and the
// pictures inlined in order.
func WriteHTML(path string, rep *Report, s *States, pictures []Picture) error {
	toks := make([]pageToken, len(rep.Tokens))
	for i, t := range rep.Tokens {
		stats, _ := json.Marshal(t.Stats)
		pc := make([][]float64, s.Steps+1)
		for k := range pc {
			pc[k] = rep.PCA.Project(s.At(k, i))
		}
		toks[i] = pageToken{Text: t.Text, Label: t.Label, Stats: string(stats), StepSize: t.StepSize, SettledAt: t.SettledAt, PC: pc}
	}
	type inlined struct{ Title, Data string }
	var pics []inlined
	for _, p := range pictures {
		pics = append(pics, inlined{p.Title, base64.StdEncoding.EncodeToString(p.PNG)})
	}
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, map[string]any{
		"Summary": fmt.Sprintf("%d tokens × %d steps, %s states; labels: %v; PCA explained variance %.3f",
			len(rep.Tokens), rep.Steps, rep.State, rep.Counts, rep.PCA.Explained),
		"Steps": rep.Steps, "Tokens": toks, "Pictures": pics,
	})
	if err != nil {
		return fmt.Errorf("trace: html: %w", err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		return fmt.Errorf("trace: html: %w", err)
	}
	return nil
}
