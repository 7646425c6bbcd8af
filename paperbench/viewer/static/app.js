// PaperBench viewer: a single page over the read-only JSON API of paperbench serve.
// Every text from the runs folder is set with textContent, never parsed as HTML.
"use strict";

const app = document.getElementById("app");
const crumbs = document.getElementById("crumbs");
const CATEGORIES = ["Code Development", "Code Execution", "Result Analysis"];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

// put replaces the children of target, skipping absent parts (null, undefined, false).
function put(target, ...kids) {
  target.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

async function api(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()).trim());
  return r.json();
}

const enc = encodeURIComponent;
const fmt = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
const pm = (m, se) => (m === null ? "–" : se === null ? fmt(m) : fmt(m) + " ± " + fmt(se));
const seedHref = (g, p, s, tab) => "#/s/" + [g, p, s].map(enc).join("/") + (tab ? "/" + tab : "");

function setCrumbs(...parts) {
  put(crumbs, ...parts.map(([text, href]) => (href ? el("a", { href }, text) : el("span", {}, text))));
}

function badge(cls, text) { return el("span", { class: "badge " + cls }, text); }

function stateBadge(s) {
  if (s.state === "pending") return badge("pending", s.status || "not graded yet");
  return badge(s.state, s.state);
}

function problemList(problems) {
  if (!problems || !problems.length) return null;
  return el("ul", { class: "problems" }, problems.map((p) => el("li", {}, el("code", {}, p.file), ": " + p.error)));
}

// ---- run groups

async function groupsView() {
  setCrumbs();
  const groups = await api("/api/groups");
  put(app, el("h1", {}, "Run groups"),
    groups.length ? el("table", { id: "groups" }, el("tr", {}, el("th", {}, "run group"), el("th", {}, "papers"), el("th", {}, "seeds")),
      groups.map((g) => el("tr", {}, el("td", {}, el("a", { href: "#/g/" + enc(g.name) }, g.name)),
        el("td", { class: "num" }, g.papers), el("td", { class: "num" }, g.seeds))))
      : el("p", {}, "No run groups in this folder."),
    groups.length > 1 ? groupCompareForm(groups.map((g) => g.name)) : null);
}

function groupCompareForm(names) {
  const pick = (id, i) => el("select", { id }, names.map((n, j) => el("option", { value: n, selected: i === j }, n)));
  const a = pick("gcmp-a", 0), b = pick("gcmp-b", 1);
  return el("div", { class: "controls" }, el("strong", {}, "Compare two run groups:"), a, b,
    el("button", { id: "gcmp-go", onclick: () => { location.hash = "#/gdiff?a=" + enc(a.value) + "&b=" + enc(b.value); } }, "Compare"));
}

async function groupDiffView(a, b) {
  setCrumbs(["compare run groups"]);
  const d = await api("/api/groupdiff?a=" + enc(a) + "&b=" + enc(b));
  const cell = (g, p, x) => (x ? el("td", {}, el("a", { href: seedHref(g, p.paper, p.seed) }, fmt(x.score)), stateBadge(x)) : el("td", {}, "absent"));
  put(app, el("h1", {}, "Compare run groups " + d.a + " and " + d.b),
    el("table", { id: "gdiff" }, el("tr", {}, ["paper", "seed", "A: " + d.a, "B: " + d.b, "leaves that differ"].map((h) => el("th", {}, h))),
      d.seeds.map((p) => el("tr", {}, el("td", {}, p.paper), el("td", {}, p.seed), cell(d.a, p, p.a), cell(d.b, p, p.b),
        el("td", { class: "num" }, p.leaves_differ === null ? "–"
          : el("a", { href: "#/diff?a=" + enc(d.a + "/" + p.paper + "/" + p.seed) + "&b=" + enc(d.b + "/" + p.paper + "/" + p.seed) },
            p.leaves_differ + " differ, " + p.leaves_agree + " agree"))))));
}

async function groupView(name) {
  setCrumbs([name]);
  const g = await api("/api/group/" + enc(name));
  const all = g.papers.flatMap((p) => p.seeds.map((s) => name + "/" + p.id + "/" + s.name));
  put(app, 
    el("h1", {}, "Run group " + g.name),
    el("p", { id: "ars" }, "ARS " + pm(g.ars, g.se) + " over " + g.complete_seeds.length + " complete seed(s)" +
      (g.incomplete_seeds.length ? "; incomplete: " + g.incomplete_seeds.join(", ") : "")),
    g.problems.length ? el("h2", {}, "Files that could not be read") : null, problemList(g.problems),
    el("h2", {}, "Papers"),
    el("table", { id: "papers" }, el("tr", {}, el("th", {}, "paper"), el("th", {}, "score"), el("th", {}, "seeds")),
      g.papers.map((p) => el("tr", {}, el("td", {}, p.id), el("td", { class: "num" }, pm(p.mean, p.se)),
        el("td", {}, p.seeds.map((s) => el("a", { class: "chip", href: seedHref(name, p.id, s.name) },
          "seed " + s.name + " ", s.score === null ? "" : fmt(s.score), stateBadge(s),
          s.reproduction === "failed" ? badge("failed", "reproduction failed") : null,
          s.invalid ? badge("invalid", s.invalid + " invalid") : null)))))),
    compareForm(all));
}

function compareForm(options, a) {
  const pick = (id, value) => el("input", { id, list: "seed-list", value: value || "", size: 40, placeholder: "group/paper/seed" });
  const ia = pick("cmp-a", a || options[0]), ib = pick("cmp-b", options.find((o) => o !== (a || options[0])));
  return el("div", { class: "controls" }, el("datalist", { id: "seed-list" }, options.map((o) => el("option", { value: o }))),
    el("strong", {}, "Compare two seeds:"), ia, ib,
    el("button", { id: "cmp-go", onclick: () => { location.hash = "#/diff?a=" + enc(ia.value) + "&b=" + enc(ib.value); } }, "Compare"));
}

// ---- one seed

async function seedView(g, p, s, tab) {
  tab = tab || "tree";
  setCrumbs([g, "#/g/" + enc(g)], [p + " / seed " + s]);
  const info = await api("/api/seed/" + [g, p, s].map(enc).join("/"));
  const usage = info.cost_usd !== null || info.working_seconds !== null
    ? "agent cost $" + fmt(info.cost_usd, 2) + ", working time " + (info.working_seconds === null ? "–" : fmt(info.working_seconds / 3600, 2) + " h")
    : null;
  const tabs = el("nav", { class: "tabs" }, [["tree", "Rubric tree"], ["transcript", "Transcript"], ["reproduction", "Reproduction"]]
    .map(([t, label]) => el("a", { href: seedHref(g, p, s, t), class: t === tab ? "active" : "", id: "tab-" + t }, label)));
  const body = el("div", { id: "tab-body" }, "Loading…");
  put(app, 
    el("h1", {}, p + " · seed " + s, stateBadge(info),
      info.reproduction ? badge(info.reproduction, "reproduction " + info.reproduction) : null),
    el("p", { id: "seed-summary" }, "score " + fmt(info.score) + " · " + info.leaves + " leaves · " + info.invalid + " invalid",
      usage ? " · " + usage : ""),
    problemList(info.problems), tabs, body);
  const views = { tree: treeTab, transcript: transcriptTab, reproduction: reproductionTab };
  await (views[tab] || treeTab)(body, g, p, s, info);
}

// ---- the graded tree

function failedLeaf(n) { return !n.v || n.s === 0; }

function prepare(root) {
  const all = [];
  (function walk(n, path, parent) {
    n.path = path; n.parent = parent; all.push(n);
    (n.kids || []).forEach((k, i) => walk(k, path + "/" + i, n));
  })(root, "root", null);
  return all;
}

async function treeTab(body, g, p, s) {
  const data = await api("/api/tree/" + [g, p, s].map(enc).join("/"));
  if (!data.root) {
    put(body, el("p", { class: "error", id: "no-tree" },
      data.state === "pending" ? "This seed has no graded tree yet" + (data.status ? " (status: " + data.status + ")." : ".")
        : "The graded tree of this seed cannot be read."), problemList(data.problems));
    return;
  }
  const nodes = prepare(data.root);
  const state = { open: new Set(["root"]), cat: "", failed: false, seen: new Map() };
  // visible: whether the node matches the filters or has a descendant that does (memoized
  // per filter setting).
  const visible = (n) => {
    let v = state.seen.get(n);
    if (v === undefined) {
      v = n.kids ? n.kids.some(visible) : (!state.cat || n.cat === state.cat) && (!state.failed || failedLeaf(n));
      state.seen.set(n, v);
    }
    return v;
  };
  const count = el("span", { id: "tree-count" });
  const list = el("ul", { class: "tree", id: "tree" });

  function scoreClass(n) {
    if (!n.v) return "invalid";
    return n.s === 1 ? "pass" : n.s === 0 ? "fail" : "partial";
  }
  function renderNode(n) {
    const li = el("li", { class: "node" + (n.kids ? "" : " leaf"), "data-path": n.path });
    const open = state.open.has(n.path);
    const toggle = el("button", { class: "toggle", title: n.kids ? "expand / collapse" : "show the explanation",
      onclick: () => { open ? state.open.delete(n.path) : state.open.add(n.path); li.replaceWith(renderNode(n)); updateCount(); } },
      n.kids ? (open ? "▾" : "▸") : (open ? "–" : "+"));
    li.append(el("div", { class: "row" }, toggle,
      el("span", { class: "score " + scoreClass(n) }, fmt(n.s, 2)),
      el("span", { class: "weight", title: "weight" }, "×" + n.w),
      el("span", { class: "req" }, n.req),
      n.cat ? badge("cat", n.cat) : null,
      n.v ? null : badge("invalid", "invalid")));
    if (open && n.kids) li.append(el("ul", {}, n.kids.filter(visible).map(renderNode)));
    if (open && !n.kids) li.append(el("div", { class: "explanation" }, n.exp || "(no explanation)"));
    return li;
  }
  function render() {
    put(list, ...(visible(data.root) || !data.root.kids ? [renderNode(data.root)] : []));
    updateCount();
  }
  function updateCount() {
    const shown = list.querySelectorAll("li.node").length;
    const leaves = nodes.filter((n) => !n.kids && visible(n)).length;
    count.textContent = shown + " nodes shown · " + leaves + " matching leaves";
  }
  const setAll = (pred) => { state.open = new Set(nodes.filter(pred).map((n) => n.path)); render(); };
  const filtered = () => { setAll((n) => n.kids && visible(n)); };
  const catSel = el("select", { id: "cat-filter", onchange: (e) => { state.cat = e.target.value; state.seen.clear(); filtered(); } },
    el("option", { value: "" }, "all categories"), CATEGORIES.map((c) => el("option", { value: c }, c)));
  const failBox = el("input", { type: "checkbox", id: "failed-only", onchange: (e) => { state.failed = e.target.checked; state.seen.clear(); filtered(); } });
  put(body, el("div", { class: "controls" },
    el("button", { id: "expand-all", onclick: () => setAll((n) => n.kids) }, "Expand all"),
    el("button", { id: "collapse-all", onclick: () => setAll((n) => n.path === "root") }, "Collapse all"),
    el("label", {}, "category ", catSel), el("label", {}, failBox, " failed or invalid leaves only"), count), list);
  render();
  // When the first tree has been painted, for the browser tests' timings.
  requestAnimationFrame(() => setTimeout(() => { window.pbTreePainted = window.pbTreePainted || performance.now(); }));
}

// ---- transcript

function contentText(c) {
  if (c === null || c === undefined) return "";
  if (typeof c === "string") return c;
  if (Array.isArray(c)) return c.map((part) => (typeof part === "string" ? part : part.text || JSON.stringify(part))).join("\n");
  return JSON.stringify(c, null, 2);
}

function prettyArgs(a) {
  try { return JSON.stringify(typeof a === "string" ? JSON.parse(a) : a, null, 2); } catch (e) { return String(a); }
}

async function transcriptTab(body, g, p, s) {
  const t = await api("/api/transcript/" + [g, p, s].map(enc).join("/"));
  if (!t.file) { put(body, el("p", { id: "no-transcript" }, "This seed has no transcript.")); return; }
  const calls = t.lines.reduce((k, l) => k + ((l.msg && l.msg.tool_calls) || []).length, 0);
  put(body, 
    el("p", { id: "transcript-summary" }, t.file + ": " + t.lines.length + " lines, " + calls + " tool calls"),
    t.error ? el("p", { class: "error" }, t.error) : null,
    el("div", { id: "transcript" }, t.lines.map((l) => {
      if (l.error) return el("div", { class: "msg error" }, "line " + l.n + " is not JSON (" + l.error + "):", el("pre", {}, l.text));
      const m = l.msg;
      return el("div", { class: "msg role-" + (m.role || "unknown") },
        el("div", { class: "role" }, (m.role || "?") + (m.tool_call_id ? " · result of " + m.tool_call_id : "") + (m.name ? " · " + m.name : "")),
        contentText(m.content) ? el("pre", {}, contentText(m.content)) : null,
        (m.tool_calls || []).map((c) => el("div", { class: "toolcall" },
          el("span", { class: "name" }, (c.function && c.function.name) || c.name || "tool"), " ", el("small", {}, c.id || ""),
          el("pre", {}, prettyArgs((c.function && c.function.arguments) || c.arguments)))),
        m.role || m.content !== undefined || m.tool_calls ? null : el("pre", {}, JSON.stringify(m, null, 2)));
    })));
}

// ---- reproduction

async function reproductionTab(body, g, p, s) {
  const r = await api("/api/reproduction/" + [g, p, s].map(enc).join("/"));
  const rec = r.record;
  const parts = [];
  if (!rec && r.log === undefined) parts.push(el("p", { id: "no-reproduction" }, "This seed has no reproduction record or log."));
  parts.push(problemList(r.problems));
  if (rec) {
    parts.push(el("h2", {}, "Attempts (kept: " + rec.kept_attempt + ")"),
      el("table", { id: "attempts" }, el("tr", {}, ["attempt", "exit code", "timed out", "duration", "log bytes"].map((h) => el("th", {}, h))),
        (rec.attempts || []).map((a) => el("tr", { class: a.exit_code !== 0 || a.timed_out ? "failed" : "" },
          el("td", {}, a.number), el("td", { class: "num" }, a.exit_code), el("td", {}, a.timed_out ? "yes" : "no"),
          el("td", { class: "num" }, fmt(a.duration_s, 1) + " s"), el("td", { class: "num" }, a.log_bytes)))),
      el("h2", {}, "Manifest"),
      el("table", { id: "manifest" }, el("tr", {}, el("th", {}, "file"), el("th", {}, "size"), el("th", {}, "state")),
        (rec.manifest || []).map((f) => el("tr", {}, el("td", {}, el("code", {}, f.path)), el("td", { class: "num" }, f.size), el("td", {}, f.state)))));
  }
  if (r.log !== undefined) {
    parts.push(el("h2", {}, "reproduce.log" + (r.log_truncated ? " (last part; " + r.log_truncated + " bytes before it left out)" : "")),
      el("pre", { id: "log" }, r.log));
  }
  if (r.log_error) parts.push(el("p", { class: "error" }, r.log_error));
  put(body, ...parts.filter(Boolean));
}

// ---- diff of two seeds

async function diffView(a, b) {
  setCrumbs(["compare"]);
  const d = await api("/api/diff?a=" + enc(a) + "&b=" + enc(b));
  const side = (x, label) => label + ": " + x.paper + " seed " + x.name + " (score " + fmt(x.score) + ")";
  const v = (x) => (x ? (x.v ? fmt(x.s, 0) : "invalid") : "absent");
  put(app, el("h1", {}, "Compare seeds"),
    el("p", {}, el("a", { href: seedHref(...a.split("/")) }, side(d.a, "A " + a)), " vs ", el("a", { href: seedHref(...b.split("/")) }, side(d.b, "B " + b))),
    d.error ? el("p", { class: "error", id: "diff-error" }, d.error) : el("div", {},
      el("p", { id: "diff-summary" }, d.leaves.length + " leaves differ, " + d.same + " agree"),
      el("table", { class: "diff", id: "diff" }, el("tr", {}, ["leaf", "category", "requirement", "A", "B"].map((h) => el("th", {}, h))),
        d.leaves.map((l) => el("tr", {}, el("td", {}, el("code", {}, l.path)), el("td", {}, l.cat), el("td", {}, l.req,
          el("details", {}, el("summary", {}, "explanations"), el("p", {}, "A: " + ((l.a && l.a.exp) || "–")), el("p", {}, "B: " + ((l.b && l.b.exp) || "–")))),
          el("td", { class: "a score " + (l.a && l.a.s === 1 ? "pass" : "fail") }, v(l.a)),
          el("td", { class: "b score " + (l.b && l.b.s === 1 ? "pass" : "fail") }, v(l.b)))))));
}

// ---- routing

async function route() {
  const h = decodeURI(location.hash.slice(1)) || "/";
  const [pathPart, query] = location.hash.slice(1).split("?");
  const parts = (pathPart || "/").split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "g" && parts.length === 2) await groupView(parts[1]);
    else if (parts[0] === "s" && parts.length >= 4) await seedView(parts[1], parts[2], parts[3], parts[4]);
    else if (parts[0] === "gdiff") {
      const q = new URLSearchParams(query || "");
      await groupDiffView(q.get("a") || "", q.get("b") || "");
    } else if (parts[0] === "diff") {
      const q = new URLSearchParams(query || "");
      await diffView(q.get("a") || "", q.get("b") || "");
    } else await groupsView();
  } catch (e) {
    put(app, el("h1", {}, "Cannot show " + h), el("p", { class: "error", id: "load-error" }, e.message));
  }
  document.body.dataset.ready = location.hash;
}

window.addEventListener("hashchange", route);
route();
