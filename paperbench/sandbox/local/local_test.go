package local

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/sandbox"
	"github.com/latentlab/latent/paperbench/sandbox/sandboxtest"
)

func provider(t *testing.T) *Provider {
	p, err := New(t.TempDir())
	if err != nil {
		t.Fatalf("%v (CI must install bubblewrap)", err)
	}
	return p
}

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, provider(t))
}

// exec runs shell in a fresh sandbox of spec and returns the result and the sandbox's Info.
func execIn(t *testing.T, spec sandbox.Spec, shell string) (sandbox.ExecResult, sandbox.Info) {
	t.Helper()
	s, err := provider(t).Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	r, err := s.Exec(context.Background(), sandbox.ExecRequest{Shell: shell, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r, s.Info()
}

// requireEnforced skips when the host gives latent no writable cgroup for the limit (a
// non-root developer machine); as root (CI) the limit must hold.
func requireEnforced(t *testing.T, in sandbox.Info, what string) {
	t.Helper()
	if slices.Contains(in.Enforced, what) {
		return
	}
	if os.Geteuid() == 0 {
		t.Fatalf("%s not enforced as root: enforced %v, unenforced %v", what, in.Enforced, in.Unenforced)
	}
	t.Skipf("%s not enforced on this host (%v)", what, in.Unenforced)
}

// TestMemoryLimit: a shell that holds ~200 MB in a variable succeeds without a limit and is
// killed under a 64 MiB one.
func TestMemoryLimit(t *testing.T) {
	const hog = `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo ${#x}`
	if r, _ := execIn(t, sandbox.Spec{}, hog); r.ExitCode != 0 || strings.TrimSpace(string(r.Output)) != "200000000" {
		t.Fatalf("without a limit: exit %d %q", r.ExitCode, r.Output)
	}
	r, in := execIn(t, sandbox.Spec{MemBytes: 64 << 20}, hog)
	if r.ExitCode == 0 {
		t.Fatalf("200 MB held under a 64 MiB limit (%v): %q", in.Enforced, r.Output)
	}
	requireEnforced(t, in, "memory:cgroup")
}

// TestProcessLimit: a loop that starts 100 background sleeps gets them all without a limit
// and stops short under a 30-process one (bash's fork then retries until the timeout).
func TestProcessLimit(t *testing.T) {
	const spawn = `for i in $(seq 100); do sleep 30 & echo $i > /tmp/n; done 2>/dev/null; cat /tmp/n`
	if r, _ := execIn(t, sandbox.Spec{}, spawn); strings.TrimSpace(string(r.Output)) != "100" {
		t.Fatalf("without a limit: %q", r.Output)
	}
	s, err := provider(t).Create(context.Background(), sandbox.Spec{MaxProcs: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	requireEnforced(t, s.Info(), "pids:cgroup")
	r, err := s.Exec(context.Background(), sandbox.ExecRequest{Shell: spawn, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, _ = s.Exec(context.Background(), sandbox.ExecRequest{Shell: "cat /tmp/n"})
	if n, _ := strconv.Atoi(strings.TrimSpace(string(r.Output))); n <= 0 || n > 30 {
		t.Fatalf("started %q processes under a 30-process limit", r.Output)
	}
}

// TestShmLimit: /dev/shm is a tmpfs of the asked size.
func TestShmLimit(t *testing.T) {
	r, in := execIn(t, sandbox.Spec{ShmBytes: 8 << 20}, `head -c 16000000 /dev/zero > /dev/shm/f; echo $?; stat -c %s /dev/shm/f`)
	if f := strings.Fields(string(r.Output)); len(f) < 2 || f[0] == "0" || f[len(f)-1] != strconv.Itoa(8<<20) || !slices.Contains(in.Enforced, "shm:tmpfs-size") {
		t.Fatalf("16 MB into an 8 MiB /dev/shm: %q (%v)", r.Output, in.Enforced)
	}
}

// TestCleanupRemovesCgroups: a crashed run's cgroup (with a process still in it) goes with
// its folder.
func TestCleanupRemovesCgroups(t *testing.T) {
	p := provider(t)
	s, err := p.Create(context.Background(), sandbox.Spec{MaxProcs: 10, Labels: sandbox.Labels{"run": "crash"}})
	if err != nil {
		t.Fatal(err)
	}
	dirs := s.(*box).cg.Dirs
	if len(dirs) == 0 {
		requireEnforced(t, s.Info(), "pids:cgroup")
	}
	if n, err := p.Cleanup(context.Background(), sandbox.Labels{"run": "crash"}); n != 1 || err != nil {
		t.Fatalf("cleanup: %d, %v", n, err)
	}
	for _, d := range append(dirs, s.(*box).dir) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left behind", d)
		}
	}
}

// TestDiskLimit: 100 MB written under /submission succeeds without a cap and is cut at a
// 32 MiB one (a loop-mounted file system); the mount goes with Close.
func TestDiskLimit(t *testing.T) {
	const fill = `head -c 100000000 /dev/zero > /submission/fill; echo rc=$?; stat -c %s /submission/fill`
	if r, _ := execIn(t, sandbox.Spec{}, fill); !strings.Contains(string(r.Output), "rc=0") {
		t.Fatalf("without a cap: %q", r.Output)
	}
	s, err := provider(t).Create(context.Background(), sandbox.Spec{DiskBytes: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	requireEnforced(t, s.Info(), "disk:loop-ext4")
	r, err := s.Exec(context.Background(), sandbox.ExecRequest{Shell: fill})
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(r.Output))
	if n, _ := strconv.Atoi(f[len(f)-1]); strings.Contains(string(r.Output), "rc=0") || n > 32<<20 {
		t.Fatalf("100 MB under a 32 MiB cap: %q", r.Output)
	}
	dir := s.(*box).dir
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s left behind", dir)
	}
}

// Benchmarks (medians; run with -benchtime=20x): create + exec true + close, exec true alone,
// a host fork+exec, and tar out of a 1 GB tree against host tar.
func BenchmarkCreateExecClose(b *testing.B) {
	sandboxtest.BenchCreateExecClose(b, benchProvider(b), sandbox.Spec{})
}
func BenchmarkExec(b *testing.B)     { sandboxtest.BenchExec(b, benchProvider(b), sandbox.Spec{}) }
func BenchmarkHostExec(b *testing.B) { sandboxtest.BenchHostExec(b) }
func BenchmarkTarOut1GB(b *testing.B) {
	sandboxtest.BenchTarOut(b, benchProvider(b), sandbox.Spec{}, 100, 10<<20)
}
func BenchmarkHostTar1GB(b *testing.B) { sandboxtest.BenchHostTar(b, 100, 10<<20) }

func benchProvider(b *testing.B) *Provider {
	p, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// persistent creates a sandbox that must be persistent (root), skipping otherwise.
func persistent(t *testing.T) sandbox.Sandbox {
	t.Helper()
	s, err := provider(t).Create(context.Background(), sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	if !slices.Contains(s.Info().Enforced, sandbox.Persistent+":joined-namespaces") {
		if os.Geteuid() == 0 {
			t.Fatalf("not persistent as root: %v", s.Info().Unenforced)
		}
		t.Skipf("not persistent without root: %v", s.Info().Unenforced)
	}
	return s
}

func shell(t *testing.T, s sandbox.Sandbox, cmd string) string {
	t.Helper()
	r, err := s.Exec(context.Background(), sandbox.ExecRequest{Shell: cmd, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return string(r.Output)
}

// TestDetachedServerOnLoopback: a server one exec starts in the background answers the next
// exec on 127.0.0.1 (the network namespace is the sandbox's, not the exec's), and /dev/shm is
// shared too.
func TestDetachedServerOnLoopback(t *testing.T) {
	s := persistent(t)
	shell(t, s, `cd /tmp && echo served > index.html && echo shm > /dev/shm/x && nohup python3 -m http.server 8765 --bind 127.0.0.1 > /tmp/server.log 2>&1 &`)
	out := shell(t, s, `for i in $(seq 100); do exec 3<>/dev/tcp/127.0.0.1/8765 && break; sleep 0.1; done 2>/dev/null
printf 'GET /index.html HTTP/1.0\r\n\r\n' >&3; cat <&3; cat /dev/shm/x`)
	if !strings.Contains(out, "served") || !strings.HasSuffix(out, "shm\n") {
		t.Fatalf("the detached server or /dev/shm is gone in the next exec: %q", out)
	}
}

// TestCloseKillsDetached: Close ends every process of the sandbox, detached ones included.
func TestCloseKillsDetached(t *testing.T) {
	s := persistent(t)
	marker := "latent-close-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	shell(t, s, `(exec -a `+marker+` sleep 1000) > /dev/null 2>&1 &`)
	for i := 0; i < 100 && countCmdline(marker) == 0; i++ {
		time.Sleep(20 * time.Millisecond) // the background shell has yet to exec
	}
	if n := countCmdline(marker); n != 1 {
		t.Fatalf("%d processes named %s after starting one", n, marker)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countCmdline(marker); n != 0 {
		t.Fatalf("%d processes named %s outlived Close", n, marker)
	}
}

// countCmdline counts the host's processes whose command line starts with name.
func countCmdline(name string) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.HasPrefix(string(b), name+"\x00") {
			n++
		}
	}
	return n
}

// TestKillAllKeepsSandbox: an agent that kills every process it can (kill -9 -1) ends its
// processes, not the sandbox: the next exec runs, with the files kept; the orphans the
// sandbox's init inherits are reaped, not left as zombies.
func TestKillAllKeepsSandbox(t *testing.T) {
	s := persistent(t)
	shell(t, s, `echo kept > /home/f; for i in $(seq 20); do (sleep 0.1 &); done; sleep 1 > /dev/null 2>&1 < /dev/null & kill -9 -1`)
	time.Sleep(300 * time.Millisecond)
	if out := shell(t, s, `cat /home/f; ps -eo stat= | grep -c Z`); out != "kept\n0\n" {
		t.Fatalf("after kill -9 -1 (want the file and 0 zombies): %q", out)
	}
}

// TestCleanupKillsHolder: Cleanup of a sandbox never closed (its run crashed) kills the
// processes it still runs and removes its folder, /dev/shm mount included.
func TestCleanupKillsHolder(t *testing.T) {
	p := provider(t)
	s, err := p.Create(context.Background(), sandbox.Spec{Labels: sandbox.Labels{"run": "crashed"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.Info().Enforced, sandbox.Persistent+":joined-namespaces") {
		t.Skipf("not persistent here: %v", s.Info().Unenforced)
	}
	marker := "latent-cleanup-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	shell(t, s, `(exec -a `+marker+` sleep 1000) > /dev/null 2>&1 &`)
	for i := 0; i < 100 && countCmdline(marker) == 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := p.Cleanup(context.Background(), sandbox.Labels{"run": "crashed"}); n != 1 || err != nil {
		t.Fatalf("cleanup: %d, %v", n, err)
	}
	if n := countCmdline(marker); n != 0 {
		t.Fatalf("%d processes named %s outlived Cleanup", n, marker)
	}
	if _, err := os.Stat(s.(*box).dir); err == nil {
		t.Fatalf("%s left behind", s.(*box).dir)
	}
}
