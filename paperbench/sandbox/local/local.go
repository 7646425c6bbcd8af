// Package local is the daemon-less sandbox backend: each Exec runs in a fresh bubblewrap (bwrap)
// container with every namespace unshared (user, pid, net, ipc, uts, cgroup), all capabilities
// dropped and no network unless the spec asks for it. The host's system folders (/usr, /bin,
// /lib*, /sbin, /etc) are bound read-only, or Spec.RootFS is used as the root instead; the only
// writable folders, /submission, /tmp and /home, live under the sandbox's own folder in the
// provider's base folder, next to a labels.json used for crash cleanup. Because each Exec is
// its own pid namespace, nothing a command starts outlives it.
//
// Limits, each reported in Info as enforced or not: memory, processes and CPU through a
// cgroup (v1 or v2) per sandbox where the host lets latent create one, else RLIMIT_AS and
// RLIMIT_NPROC (which the kernel ignores for root); /dev/shm as a tmpfs of the asked size; the
// writable space as a loop-mounted ext4 file system of the asked size (root only).
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/latentlab/latent/paperbench/archive"
	"github.com/latentlab/latent/paperbench/sandbox"
)

// writable are the sandbox folders backed by the sandbox's own host folder.
var writable = []string{"/submission", "/tmp", "/home"}

// systemDirs are bound read-only from the host when no RootFS is given.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"}

// Provider creates bubblewrap sandboxes under Base.
type Provider struct {
	Base  string // folder holding one sub-folder per sandbox
	Bwrap string // bwrap binary; empty = looked up on PATH
}

// New returns a provider rooted at base, failing with an install hint when bwrap is missing.
func New(base string) (*Provider, error) {
	bw, err := exec.LookPath("bwrap")
	if err != nil {
		return nil, errors.New("sandbox local: bwrap not found on PATH: install bubblewrap (apt-get install -y bubblewrap)")
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox local: base folder: %w", err)
	}
	return &Provider{Base: base, Bwrap: bw}, nil
}

// Name implements sandbox.Provider.
func (p *Provider) Name() string { return "local" }

// Create implements sandbox.Provider.
func (p *Provider) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if spec.RootFS != "" {
		if fi, err := os.Stat(spec.RootFS); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("sandbox local: root filesystem %q is not a folder", spec.RootFS)
		}
	}
	for _, m := range spec.Mounts {
		if _, err := os.Stat(m.Source); err != nil || !filepath.IsAbs(m.Target) {
			return nil, fmt.Errorf("sandbox local: mount %q -> %q: source missing or target not absolute", m.Source, m.Target)
		}
	}
	dir, err := os.MkdirTemp(p.Base, "sb-")
	if err != nil {
		return nil, fmt.Errorf("sandbox local: %w", err)
	}
	s := &box{p: p, spec: spec, dir: dir, id: filepath.Base(dir)}
	s.cg = newCgroups(s.id, spec)
	if err := writeJSON(dir, "cgroups.json", s.cg); err != nil {
		s.Close(ctx)
		return nil, err
	}
	if spec.DiskBytes > 0 {
		if err := mountDisk(dir, spec.DiskBytes); err != nil {
			s.diskErr = err.Error()
		}
	}
	for _, w := range writable {
		if err := os.MkdirAll(s.host(w), 0o777); err != nil {
			s.Close(ctx)
			return nil, fmt.Errorf("sandbox local: %w", err)
		}
	}
	if err := writeJSON(dir, "labels.json", spec.Labels); err != nil {
		s.Close(ctx)
		return nil, err
	}
	return s, nil
}

// writeJSON writes v to dir/name atomically.
func writeJSON(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("sandbox local: %s: %w", name, err)
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// Cleanup implements sandbox.Provider: it removes every sandbox folder whose labels.json holds
// all the given labels, with the control groups its cgroups.json names (killing what is left
// in them).
func (p *Provider) Cleanup(ctx context.Context, want sandbox.Labels) (int, error) {
	es, err := os.ReadDir(p.Base)
	if err != nil {
		return 0, fmt.Errorf("sandbox local: cleanup: %w", err)
	}
	n := 0
	for _, e := range es {
		dir := filepath.Join(p.Base, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "labels.json"))
		var have sandbox.Labels
		if err != nil || json.Unmarshal(b, &have) != nil || !matches(have, want) {
			continue
		}
		if err := removeSandbox(dir, readCgroups(dir)); err != nil {
			return n, fmt.Errorf("sandbox local: cleanup: %w", err)
		}
		n++
	}
	return n, nil
}

func readCgroups(dir string) cgroups {
	var cg cgroups
	if b, err := os.ReadFile(filepath.Join(dir, "cgroups.json")); err == nil {
		json.Unmarshal(b, &cg)
	}
	return cg
}

// removeSandbox removes a sandbox's control groups and disk mount, then its folder.
func removeSandbox(dir string, cg cgroups) error {
	err := errors.Join(cg.remove(), unmountDisk(dir))
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func matches(have, want sandbox.Labels) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

type box struct {
	p    *Provider
	spec sandbox.Spec
	dir  string
	id   string
	cg   cgroups
	// diskErr says why DiskBytes could not be enforced ("" when it is or was not asked).
	diskErr string
	mu      sync.Mutex
	closed  bool
}

// host maps a writable sandbox folder to its host folder.
func (s *box) host(w string) string { return filepath.Join(s.dir, "fs", strings.TrimPrefix(w, "/")) }

// hostPath maps an absolute sandbox path inside a writable folder to the host, refusing paths
// that pass through a symlink the sandbox could have planted.
func (s *box) hostPath(p string) (string, error) {
	c := filepath.Clean(p)
	for _, w := range writable {
		if c != w && !strings.HasPrefix(c, w+"/") {
			continue
		}
		h := s.host(w)
		for _, part := range strings.Split(strings.TrimPrefix(strings.TrimPrefix(c, w), "/"), "/") {
			if part == "" {
				continue
			}
			h = filepath.Join(h, part)
			if fi, err := os.Lstat(h); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				return "", fmt.Errorf("sandbox local: %q passes through a symlink", p)
			}
		}
		return h, nil
	}
	return "", fmt.Errorf("sandbox local: %q is not under a writable folder %v", p, writable)
}

// Info implements sandbox.Sandbox. Limits come from cgroups where the host lets latent create
// them, else from rlimits: RLIMIT_AS for memory, RLIMIT_NPROC for processes (which the kernel
// ignores for root, so as root without cgroups the process limit is reported unenforced).
func (s *box) Info() sandbox.Info {
	in := sandbox.Info{ID: s.id, Backend: "local",
		Enforced: []string{"network:" + string(cmpOr(s.spec.Network, sandbox.NetworkNone)), "namespaces:all", "capabilities:none", "cputime:rlimit-on-timeout"}}
	add := func(asked bool, ok bool, enforced, missing string) {
		switch {
		case !asked:
		case ok:
			in.Enforced = append(in.Enforced, enforced)
		default:
			in.Unenforced = append(in.Unenforced, missing)
		}
	}
	mem := s.cg.enforces("memory:cgroup")
	add(s.spec.MemBytes > 0, true, map[bool]string{true: "memory:cgroup", false: "memory:rlimit-as"}[mem], "")
	pids := s.cg.enforces("pids:cgroup")
	add(s.spec.MaxProcs > 0, pids || os.Geteuid() != 0, map[bool]string{true: "pids:cgroup", false: "nproc:rlimit"}[pids], "pids (root ignores RLIMIT_NPROC, no writable cgroup)")
	add(s.spec.CPUs > 0, s.cg.enforces("cpu:cgroup"), "cpu:cgroup", "cpu (no writable cgroup)")
	add(s.spec.DiskBytes > 0, s.diskErr == "", "disk:loop-ext4", "disk ("+s.diskErr+"; only copies in are capped)")
	add(s.spec.ShmBytes > 0, true, "shm:tmpfs-size", "")
	return in
}

func cmpOr(n, d sandbox.Network) sandbox.Network {
	if n == "" {
		return d
	}
	return n
}

func (s *box) argv(req sandbox.ExecRequest) ([]string, error) {
	a := []string{"--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--die-with-parent", "--new-session"}
	if s.spec.Network == sandbox.NetworkFull {
		a = append(a, "--share-net")
	}
	if s.spec.RootFS != "" {
		a = append(a, "--ro-bind", s.spec.RootFS, "/")
	} else {
		a = append(a, HostSystem()...)
	}
	a = append(a, "--proc", "/proc", "--dev", "/dev")
	if s.spec.ShmBytes > 0 {
		a = append(a, "--size", strconv.FormatInt(s.spec.ShmBytes, 10), "--tmpfs", "/dev/shm")
	}
	for _, w := range writable {
		a = append(a, "--bind", s.host(w), w)
	}
	for _, m := range s.spec.Mounts {
		a = append(a, "--ro-bind", m.Source, m.Target)
	}
	a = append(a, "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "--setenv", "HOME", "/home")
	for _, env := range []map[string]string{s.spec.Env, req.Env} {
		for k, v := range env {
			a = append(a, "--setenv", k, v)
		}
	}
	a = append(a, "--chdir", cmpStr(req.Dir, s.spec.Workdir, "/submission"), "--")
	switch {
	case req.Shell != "" && len(req.Argv) == 0:
		a = append(a, "bash", "-c", req.Shell)
	case req.Shell == "" && len(req.Argv) > 0:
		a = append(a, req.Argv...)
	default:
		return nil, errors.New("sandbox local: exactly one of Argv and Shell must be set")
	}
	return a, nil
}

func cmpStr(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// HostSystem is the bwrap arguments that bind the host's system folders read-only, keeping
// symlinked ones (/bin -> usr/bin) as symlinks (the kubernetes backend's test pods use it too).
func HostSystem() []string {
	var a []string
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if t, err := os.Readlink(d); err == nil {
				a = append(a, "--symlink", t, d)
			}
		case fi.IsDir():
			a = append(a, "--ro-bind", d, d)
		}
	}
	return a
}

// limits returns the prlimit prefix for the spec's rlimits.
func (s *box) limits(timeout time.Duration) []string {
	var a []string
	if s.spec.MemBytes > 0 && !s.cg.enforces("memory:cgroup") {
		a = append(a, "--as="+strconv.FormatInt(s.spec.MemBytes, 10))
	}
	if s.spec.MaxProcs > 0 && !s.cg.enforces("pids:cgroup") {
		a = append(a, "--nproc="+strconv.Itoa(s.spec.MaxProcs))
	}
	if timeout > 0 {
		a = append(a, "--cpu="+strconv.Itoa(int(timeout.Seconds())+1))
	}
	if len(a) == 0 {
		return nil
	}
	return append(append([]string{"prlimit"}, a...), "--")
}

// Exec implements sandbox.Sandbox. The command runs under bwrap's pid-namespace init, so when
// the command exits the init exits and the kernel kills everything it left behind (background
// children holding the output open included). The timeout kills bwrap's process group; bwrap's
// init then dies (--die-with-parent) and takes the namespace with it. Stdin is fed through a
// pipe that is closed when the command ends, so a reader that never reaches EOF cannot hold
// Exec open.
func (s *box) Exec(ctx context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return sandbox.ExecResult{}, errors.New("sandbox local: exec on a closed sandbox")
	}
	args, err := s.argv(req)
	if err != nil {
		return sandbox.ExecResult{}, err
	}
	argv := append(append(s.cg.argv(), s.limits(req.Timeout)...), append([]string{s.p.Bwrap}, args...)...)
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if req.Timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, req.Timeout)
	}
	defer cancel()
	cmd := exec.Command(argv[0], argv[1:]...)
	capture := sandbox.NewCapture(req.OutputLimit)
	var out io.Writer = capture
	if req.Stream != nil {
		out = io.MultiWriter(capture, req.Stream)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := feedStdin(cmd, req.Stdin)
	if err != nil {
		return sandbox.ExecResult{}, err
	}
	start := time.Now()
	err = cmd.Start()
	stdin.started()
	if err != nil {
		stdin.stop()
		return sandbox.ExecResult{}, fmt.Errorf("sandbox local: start bwrap: %w", err)
	}
	werr, timedOut := wait(ctx, cctx, cmd)
	stdin.stop()
	res := sandbox.ExecResult{TimedOut: timedOut, Duration: time.Since(start), ExitCode: cmd.ProcessState.ExitCode()}
	res.Output, res.Truncated = capture.Bytes()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return res, fmt.Errorf("sandbox local: %w", werr)
	}
	return res, nil
}

// wait waits for cmd, killing its process group when cctx ends first; timedOut is true when
// cctx ended on its own deadline rather than through the caller's ctx.
func wait(ctx, cctx context.Context, cmd *exec.Cmd) (err error, timedOut bool) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
		return err, false
	case <-cctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return <-done, ctx.Err() == nil
	}
}

// stdinPipe copies a caller's stdin into the command through an OS pipe that Exec closes when
// the command ends. (Handing exec.Cmd a plain io.Reader would make Wait wait for that reader's
// EOF, forever for a reader that never ends.)
type stdinPipe struct{ r, w *os.File }

func feedStdin(cmd *exec.Cmd, src io.Reader) (*stdinPipe, error) {
	if src == nil {
		return &stdinPipe{}, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox local: stdin pipe: %w", err)
	}
	cmd.Stdin = r
	go func() {
		io.Copy(w, src)
		w.Close()
	}()
	return &stdinPipe{r: r, w: w}, nil
}

// started drops the parent's copy of the read end once the child holds its own.
func (p *stdinPipe) started() {
	if p.r != nil {
		p.r.Close()
	}
}

// stop closes the write end: a copy still blocked on the caller's reader fails on its next
// write instead of keeping the command's stdin open.
func (p *stdinPipe) stop() {
	if p.w != nil {
		p.w.Close()
	}
}

// PutTar implements sandbox.Sandbox through archive.Extract.
func (s *box) PutTar(ctx context.Context, dir string, r io.Reader) error {
	h, err := s.hostPath(dir)
	if err != nil {
		return err
	}
	return archive.Extract(r, h, archive.Limits{MaxBytes: s.spec.DiskBytes})
}

// GetTar implements sandbox.Sandbox, streaming through archive.WriteDir.
func (s *box) GetTar(ctx context.Context, path string) (io.ReadCloser, error) {
	h, err := s.hostPath(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(h); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("sandbox local: %q is not a folder in the sandbox", path)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteDir(pw, h)) }()
	return pr, nil
}

// Close implements sandbox.Sandbox: it removes the sandbox's folder; safe to call twice.
func (s *box) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := removeSandbox(s.dir, s.cg); err != nil {
		return fmt.Errorf("sandbox local: close: %w", err)
	}
	return nil
}
