package docker_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/sandbox"
	"github.com/latentlab/latent/paperbench/sandbox/docker"
	"github.com/latentlab/latent/paperbench/sandbox/docker/dockertest"
	"github.com/latentlab/latent/paperbench/sandbox/sandboxtest"
)

// withImage gives every spec the test image, so the backend-neutral suite can run.
type withImage struct{ *docker.Provider }

func (p withImage) Create(ctx context.Context, s sandbox.Spec) (sandbox.Sandbox, error) {
	if s.Image == "" {
		s.Image = dockertest.Image
	}
	return p.Provider.Create(ctx, s)
}

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, withImage{dockertest.Provider(t)})
}

func execIn(t *testing.T, spec sandbox.Spec, shell string, timeout time.Duration) (sandbox.ExecResult, sandbox.Sandbox) {
	t.Helper()
	spec.Image = dockertest.Image
	s, err := dockertest.Provider(t).Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	r, err := s.Exec(context.Background(), sandbox.ExecRequest{Shell: shell, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

// TestLimits: memory, processes and /dev/shm hold in the container.
func TestLimits(t *testing.T) {
	const hog = `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo ${#x}`
	if r, _ := execIn(t, sandbox.Spec{}, hog, time.Minute); strings.TrimSpace(string(r.Output)) != "200000000" {
		t.Fatalf("without a limit: exit %d %q", r.ExitCode, r.Output)
	}
	if r, _ := execIn(t, sandbox.Spec{MemBytes: 64 << 20}, hog, time.Minute); r.ExitCode == 0 {
		t.Fatalf("200 MB held under a 64 MiB limit: %q", r.Output)
	}
	const spawn = `for i in $(seq 100); do sleep 30 & echo $i > /tmp/n; done 2>/dev/null; cat /tmp/n`
	_, s := execIn(t, sandbox.Spec{MaxProcs: 30}, spawn, 3*time.Second)
	r, _ := s.Exec(context.Background(), sandbox.ExecRequest{Shell: "cat /tmp/n"})
	if n, _ := strconv.Atoi(strings.TrimSpace(string(r.Output))); n <= 0 || n > 30 {
		t.Fatalf("started %q processes under a 30-process limit", r.Output)
	}
	r, _ = execIn(t, sandbox.Spec{ShmBytes: 8 << 20}, `head -c 16000000 /dev/zero > /dev/shm/f; stat -c %s /dev/shm/f`, time.Minute)
	if strings.TrimSpace(string(r.Output)) != strconv.Itoa(8<<20) && !strings.Contains(string(r.Output), "No space") {
		t.Fatalf("16 MB into an 8 MiB /dev/shm: %q", r.Output)
	}
}

// TestBadSpecs: a missing image and a socket mount fail with what and where.
func TestBadSpecs(t *testing.T) {
	p := dockertest.Provider(t)
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "fake.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sock := ln.Addr().String()
	for _, c := range []struct {
		spec sandbox.Spec
		want string
	}{
		{sandbox.Spec{Image: "latent-no-such-image:0"}, `image "latent-no-such-image:0" not found`},
		{sandbox.Spec{}, "no image"},
		{sandbox.Spec{Image: dockertest.Image, Mounts: []sandbox.Mount{{Source: sock, Target: "/var/run/docker.sock"}}}, "is a socket"},
		{sandbox.Spec{Image: dockertest.Image, Mounts: []sandbox.Mount{{Source: "/does/not/exist", Target: "/x"}}}, "/does/not/exist"},
	} {
		s, err := p.Create(context.Background(), c.spec)
		if err == nil {
			s.Close(context.Background())
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.spec, err, c.want)
		}
	}
	os.Remove(sock)
}

// Benchmarks (medians; run with -benchtime=20x), as in the local backend's.
func BenchmarkCreateExecClose(b *testing.B) {
	sandboxtest.BenchCreateExecClose(b, dockertest.Provider(b), sandbox.Spec{Image: dockertest.Image})
}
func BenchmarkExec(b *testing.B) {
	sandboxtest.BenchExec(b, dockertest.Provider(b), sandbox.Spec{Image: dockertest.Image})
}
func BenchmarkTarOut1GB(b *testing.B) {
	sandboxtest.BenchTarOut(b, dockertest.Provider(b), sandbox.Spec{Image: dockertest.Image}, 100, 10<<20)
}
