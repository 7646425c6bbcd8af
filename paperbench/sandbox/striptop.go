package sandbox

import (
	"archive/tar"
	"errors"
	"io"
	"strings"
)

// StripTop rewrites a tar whose entries all sit under one top folder ("submission/..." from
// the Docker engine, "./..." from tar -c -C dir .) so that they are relative to it, dropping
// the top folder's own entry. It streams; closing the result closes src and stops the copy.
func StripTop(src io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer src.Close()
		pw.CloseWithError(stripTop(src, pw))
	}()
	return &readCloser{pr, src}
}

func stripTop(src io.Reader, dst io.Writer) error {
	tr, tw := tar.NewReader(src), tar.NewWriter(dst)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		_, rest, _ := strings.Cut(h.Name, "/")
		if strings.Trim(rest, "/") == "" {
			continue
		}
		h.Name = rest
		if h.Typeflag == tar.TypeLink {
			_, h.Linkname, _ = strings.Cut(h.Linkname, "/")
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// readCloser closes both the pipe and the source stream, so an early Close stops the copy.
type readCloser struct {
	*io.PipeReader
	src io.Closer
}

func (r *readCloser) Close() error {
	r.src.Close()
	return r.PipeReader.Close()
}
