package judge

import (
	"path"
	"slices"
	"strings"
	"time"

	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/submission"
)

// What the judge may read, per task category (the official _get_whitelisted_files).
var (
	// skippedDirParts: a folder whose name contains one of these is not read.
	skippedDirParts = []string{"venv", ".venv", ".env", "wandb", ".egg-info", ".git", ".github", "__pycache__", "node_modules"}
	docExtensions   = extensionSet(".md", ".txt", ".rst")
	codeExtensions  = extensionSet(".py", ".R", ".Rmd", ".m", ".jl", ".c", ".h", ".cpp", ".hpp", ".cc", ".cxx", ".hxx",
		".java", ".js", ".ts", ".scala", ".go", ".rs", ".sh", ".config", ".cfg", ".json", ".yaml", ".yml", ".toml", ".ini")
	tableExtensions = extensionSet(".csv", ".tsv", ".psv", ".json", ".jsonl", ".html", ".xml", ".yaml", ".yml", ".toml",
		".arff", ".tex", ".svm", ".libsvm")
)

func extensionSet(exts ...string) map[string]bool {
	set := map[string]bool{}
	for _, e := range exts {
		set[e] = true
	}
	return set
}

// skipDir reports whether a folder is left out of the judge's view.
func skipDir(name string) bool {
	return slices.ContainsFunc(skippedDirParts, func(part string) bool { return strings.Contains(name, part) })
}

// suffix returns a file name's extension as Python's PurePath.suffix does: none for a name
// whose only dot is the leading one (".bashrc").
func suffix(p string) string {
	base := path.Base(p)
	i := strings.LastIndexByte(base, '.')
	if i <= 0 || i == len(base)-1 {
		return ""
	}
	return base[i:]
}

// visible reports whether a judge grading a leaf of category sees file f: documentation
// and code for Code Development and Execution; for Result Analysis, documentation and the
// tables that the reproduction created or modified (modified at or after start); for a
// Subtree, all three.
func visible(category string, f submission.File, start time.Time) bool {
	ext := suffix(f.Path)
	touched := !f.ModTime.Before(start)
	switch category {
	case rubric.ResultAnalysis:
		return docExtensions[ext] || tableExtensions[ext] && touched
	case rubric.Subtree:
		return docExtensions[ext] || codeExtensions[ext] || tableExtensions[ext] && touched
	}
	return docExtensions[ext] || codeExtensions[ext]
}

// fileTree draws the paths (sorted, slash-separated) as an ASCII tree, one entry a line:
//
//	├── src
//	│   └── main.py
//	└── README.md
func fileTree(paths []string) string {
	type dir struct {
		names    []string
		children map[string]*dir
	}
	newDir := func() *dir { return &dir{children: map[string]*dir{}} }
	top := newDir()
	for _, p := range paths {
		d := top
		for _, part := range strings.Split(p, "/") {
			child, ok := d.children[part]
			if !ok {
				child = newDir()
				d.children[part] = child
				d.names = append(d.names, part)
			}
			d = child
		}
	}
	var b strings.Builder
	var draw func(d *dir, prefix string)
	draw = func(d *dir, prefix string) {
		for i, name := range d.names {
			connector, extension := "├── ", "│   "
			if i == len(d.names)-1 {
				connector, extension = "└── ", "    "
			}
			b.WriteString(prefix + connector + name + "\n")
			draw(d.children[name], prefix+extension)
		}
	}
	draw(top, "")
	return strings.TrimSuffix(b.String(), "\n")
}

// formatFile wraps a file's content for the prompt.
func formatFile(path, content string) string {
	if strings.TrimSpace(content) == "" {
		content = "(FILE IS EMPTY)"
	}
	return "<FILE:" + path + ">\n" + content + "\n</FILE:" + path + ">"
}
