// Package dockertest builds the small image the docker backend's tests run on: host tools
// and their shared libraries, imported with docker import (no registry is reached), and
// connects to the engine, skipping the test with the reason when none answers.
package dockertest

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/client"

	"github.com/latentlab/latent/paperbench/archive"
	"github.com/latentlab/latent/paperbench/sandbox/docker"
)

// Image is the image Provider builds with docker import (no registry is reached).
const Image = "latent-sandboxtest:v1"

// tools are the host programs copied, with their shared libraries, into the test image.
var tools = []string{"bash", "sh", "cat", "pwd", "date", "sleep", "wc", "head", "tail", "tr", "timeout",
	"ls", "setsid", "seq", "stat", "mkdir", "rm", "env", "grep", "echo", "tee"}

// Provider connects to the engine, skipping (with the reason) when none answers, and makes
// sure the test image exists.
func Provider(t testing.TB) *docker.Provider {
	t.Helper()
	p, err := docker.New(context.Background())
	if err != nil {
		t.Skipf("docker tests skipped: %v", err)
	}
	if err := buildImage(p.Client()); err != nil {
		t.Fatalf("building %s: %v", Image, err)
	}
	return p
}

var (
	buildOnce sync.Once
	buildErr  error
)

// buildImage imports Image from a root filesystem of host tools, once per test binary.
func buildImage(c *client.Client) error {
	buildOnce.Do(func() {
		ctx := context.Background()
		if _, err := c.ImageInspect(ctx, Image); err == nil {
			return
		}
		root, err := os.MkdirTemp("", "latent-rootfs-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(root)
		if buildErr = makeRootFS(root); buildErr != nil {
			return
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(archive.WriteDir(pw, root)) }()
		rc, err := c.ImageImport(ctx, client.ImageImportSource{Source: pr, SourceName: "-"}, Image, client.ImageImportOptions{})
		if err != nil {
			buildErr = err
			return
		}
		defer rc.Close()
		_, buildErr = io.Copy(io.Discard, rc)
	})
	return buildErr
}

// makeRootFS copies the tools and every library ldd names for them under root.
func makeRootFS(root string) error {
	for _, d := range []string{"usr/bin", "tmp", "home", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	os.Symlink("usr/bin", filepath.Join(root, "bin"))
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644)
	for _, tool := range tools {
		bin, err := exec.LookPath(tool)
		if err != nil {
			return err
		}
		if err := copyFile(bin, filepath.Join(root, "usr/bin", tool)); err != nil {
			return err
		}
		out, err := exec.Command("ldd", bin).Output()
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "/") {
				if err := copyFile(f, filepath.Join(root, f)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}
