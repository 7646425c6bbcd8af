// Package dockertest builds the small image the docker backend's tests run on: host tools
// (bash, coreutils, git, python3 with its standard library) and their shared libraries,
// imported with docker import (no registry is reached), and connects to the engine,
// skipping the test with the reason when none answers. The agents' end-to-end test runs on
// it too: its tools, reproduce.sh and the snapshots need git, python3, sed and tar.
package dockertest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
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
const Image = "latent-sandboxtest:v2"

// tools are the host programs copied, with their shared libraries, into the test image.
var tools = []string{"bash", "sh", "cat", "pwd", "date", "sleep", "wc", "head", "tail", "tr", "timeout",
	"ls", "setsid", "seq", "stat", "mkdir", "rm", "env", "grep", "echo", "tee", "nohup", "sed", "tar",
	"cp", "mv", "chmod", "touch", "sort", "cut", "git", "python3"}

// systemDirs are where tools are looked up: the host's own programs, never a PATH shim
// (pyenv's python3 is a script).
var systemDirs = []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"}

// extraDirs are folders copied whole (with the libraries of their shared objects): git's
// templates and python3's standard library (found by asking it).
func extraDirs() ([]string, error) {
	out, err := exec.Command("/usr/bin/python3", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])").Output()
	if err != nil {
		return nil, fmt.Errorf("the host's /usr/bin/python3 cannot name its standard library: %v", err)
	}
	return []string{strings.TrimSpace(string(out)), "/usr/share/git-core/templates"}, nil
}

// skipped are the parts of the standard library the tests never import.
var skipped = map[string]bool{"test": true, "__pycache__": true, "idlelib": true, "tkinter": true, "lib2to3": true,
	"ensurepip": true, "turtledemo": true, "site-packages": true, "dist-packages": true}

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

// makeRootFS copies the tools, the extra folders and every library ldd names for them under
// root.
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
		bin, err := systemTool(tool)
		if err != nil {
			return err
		}
		if err := copyWithLibs(root, bin, filepath.Join(root, "usr/bin", tool)); err != nil {
			return err
		}
	}
	dirs, err := extraDirs()
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if err := copyTree(root, dir); err != nil {
			return err
		}
	}
	return nil
}

func systemTool(name string) (string, error) {
	for _, d := range systemDirs {
		if fi, err := os.Stat(filepath.Join(d, name)); err == nil && fi.Mode().IsRegular() {
			return filepath.Join(d, name), nil
		}
	}
	return "", fmt.Errorf("no %s in %v on the host", name, systemDirs)
}

// copyWithLibs copies the program or shared object src to dst and the libraries ldd names
// for it under root.
func copyWithLibs(root, src, dst string) error {
	if err := copyFile(src, dst); err != nil {
		return err
	}
	out, err := exec.Command("ldd", src).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", src, err)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			if err := copyFile(f, filepath.Join(root, f)); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyTree copies the host folder dir to the same path under root, but the skipped
// folders; shared objects bring their libraries.
func copyTree(root, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && skipped[d.Name()]:
			return filepath.SkipDir
		case !d.Type().IsRegular():
			return nil
		case strings.HasSuffix(p, ".so"):
			return copyWithLibs(root, p, filepath.Join(root, p))
		}
		return copyFile(p, filepath.Join(root, p))
	})
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
