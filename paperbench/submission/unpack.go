package submission

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/latentlab/latent/paperbench/archive"
)

// Unpack returns the folder of a submission given as a folder (returned as it is) or as a tar
// / tar.gz, extracted through the one safe extractor into scratch (emptied first; cleanup
// removes it). An archive holding a single top folder and nothing else yields that folder, so
// `tar czf sub.tgz sub/` and `tar czf sub.tgz -C sub .` unpack alike.
func Unpack(src, scratch string) (dir string, cleanup func(), err error) {
	cleanup = func() {}
	fi, err := os.Stat(src)
	if err != nil {
		return "", cleanup, fmt.Errorf("submission %s: %w", src, err)
	}
	if fi.IsDir() {
		return src, cleanup, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return "", cleanup, fmt.Errorf("submission %s: %w", src, err)
	}
	defer f.Close()
	os.RemoveAll(scratch)
	cleanup = func() { os.RemoveAll(scratch) }
	if err := archive.Extract(f, scratch, archive.Limits{}); err != nil {
		return "", cleanup, fmt.Errorf("submission %s is neither a folder nor a readable tar: %w", src, err)
	}
	if es, _ := os.ReadDir(scratch); len(es) == 1 && es[0].IsDir() {
		return filepath.Join(scratch, es[0].Name()), cleanup, nil
	}
	return scratch, cleanup, nil
}
