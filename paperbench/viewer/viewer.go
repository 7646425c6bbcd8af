// Package viewer serves a read-only web viewer of a PaperBench runs folder: run groups,
// their papers and seeds, each seed's graded rubric tree (expand, collapse, filter by
// task category or by failed leaves), the agent's transcript with its tool calls, the
// reproduction record and log, and the leaves that differ between two seeds.
//
// Everything is read through an [os.Root] of the runs folder, so no request reaches a file
// outside it: path segments are checked (no "..", no separators, no hidden names), and
// links that lead out of the folder fail to open. Only GET and HEAD are answered. The page
// is static (embedded HTML, CSS and vanilla JavaScript) and fetches JSON from /api/.
package viewer

import (
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/latentlab/latent/paperbench/rungroup"
)

//go:embed static
var static embed.FS

// Server is the viewer of one runs folder.
type Server struct {
	root *os.Root
	fsys fs.FS
	mux  *http.ServeMux
}

// New opens the runs folder dir. Close the server when done.
func New(dir string) (*Server, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	s := &Server{root: root, fsys: root.FS(), mux: http.NewServeMux()}
	assets, _ := fs.Sub(static, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "index.html")
	})
	s.mux.HandleFunc("GET /api/groups", s.groups)
	s.mux.HandleFunc("GET /api/group/{group}", s.group)
	s.mux.HandleFunc("GET /api/seed/{group}/{paper}/{seed}", s.seed)
	s.mux.HandleFunc("GET /api/tree/{group}/{paper}/{seed}", s.tree)
	s.mux.HandleFunc("GET /api/transcript/{group}/{paper}/{seed}", s.transcript)
	s.mux.HandleFunc("GET /api/reproduction/{group}/{paper}/{seed}", s.reproduction)
	s.mux.HandleFunc("GET /api/diff", s.diff)
	s.mux.HandleFunc("GET /api/groupdiff", s.groupDiff)
	return s, nil
}

// Close releases the runs folder.
func (s *Server) Close() error { return s.root.Close() }

// ServeHTTP answers GET and HEAD requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "read-only viewer", http.StatusMethodNotAllowed)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// errBadName is a path segment the viewer refuses.
var errBadName = errors.New("bad name")

// segment checks one path element of a request.
func segment(v string) (string, error) {
	if v == "" || v == "." || v == ".." || strings.HasPrefix(v, ".") ||
		strings.ContainsAny(v, "/\\\x00") || !fs.ValidPath(v) {
		return "", errBadName
	}
	return v, nil
}

// seedPath returns the checked group, paper and seed of a request.
func seedPath(r *http.Request) (group, paper, seed string, err error) {
	parts := make([]string, 3)
	for i, k := range []string{"group", "paper", "seed"} {
		if parts[i], err = segment(r.PathValue(k)); err != nil {
			return "", "", "", err
		}
	}
	return parts[0], parts[1], parts[2], nil
}

// loadSeed reads the seed a request names.
func (s *Server) loadSeed(group, paper, seed string) (*rungroup.Seed, error) {
	dir := path.Join(group, paper, seed)
	st, err := fs.Stat(s.fsys, dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fs.ErrNotExist
	}
	return rungroup.LoadSeed(s.fsys, dir, paper, seed), nil
}

func (s *Server) seedFromRequest(w http.ResponseWriter, r *http.Request) *rungroup.Seed {
	g, p, sd, err := seedPath(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil
	}
	seed, err := s.loadSeed(g, p, sd)
	if err != nil {
		http.Error(w, "no such seed", http.StatusNotFound)
		return nil
	}
	return seed
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
