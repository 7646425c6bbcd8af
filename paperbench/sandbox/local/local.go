// Package local is the daemon-less sandbox backend on bubblewrap (bwrap): every namespace
// unshared (user, pid, net, ipc, uts, cgroup), all capabilities dropped and no network unless
// the spec asks for it. The host's system folders (/usr, /bin, /lib*, /sbin, /etc) are bound
// read-only, or Spec.RootFS is used as the root instead; the only writable folders,
// /submission, /tmp and /home, live under the sandbox's own folder in the provider's base
// folder, next to a labels.json used for crash cleanup.
//
// As root the sandbox is persistent, as a container is: one long-lived bwrap holds its
// namespaces and every Exec joins them (see holder), so a process a command detaches keeps
// running until Close. Without root every Exec is a fresh bwrap and nothing outlives it.
// Either way, when a command exits, every process still holding its output half a second
// later is killed (it would write into a closed pipe and hold Exec open); a process that let
// go of the output (cmd > log 2>&1 &) was detached on purpose and lives on. A timeout or a
// cancelled context kills the whole call: every process that inherited the call's
// LATENT_EXEC tag, detached or not, and every holder of its output.
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
	Bwrap string // bwrap binary
	// Nsenter is util-linux nsenter, set when sandboxes can be persistent (root); empty =
	// every Exec is a fresh sandbox.
	Nsenter string
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
	p := &Provider{Base: base, Bwrap: bw}
	if ns, err := exec.LookPath("nsenter"); err == nil && os.Geteuid() == 0 {
		p.Nsenter = ns
	}
	return p, nil
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

// removeSandbox kills a sandbox's holder, removes its control groups and disk mount, then
// its folder.
func removeSandbox(dir string, cg cgroups) error {
	killRecordedHolder(dir)
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
	holder  *holder // the persistent sandbox's namespaces; nil before the first Exec
	// shmMounted: the persistent sandbox's /dev/shm tmpfs is mounted (at the first Exec).
	shmMounted bool
	execs      int // Execs so far, for their tags
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
		Enforced: []string{"network:" + string(cmpOr(s.spec.Network, sandbox.NetworkNone)), "namespaces:all", "capabilities:none", "tree-kill:env-tag+output-pipe"}}
	if s.p.Nsenter != "" {
		in.Enforced = append(in.Enforced, sandbox.Persistent+":joined-namespaces")
	} else {
		in.Unenforced = append(in.Unenforced, sandbox.Persistent+" (joining a running sandbox's namespaces needs root and nsenter; every command runs in a fresh sandbox)")
	}
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

// freshNamespaces are the bwrap options that create the sandbox's namespaces.
func (s *box) freshNamespaces() []string {
	a := []string{"--unshare-all", "--unshare-user"}
	if s.spec.Network == sandbox.NetworkFull {
		a = append(a, "--share-net")
	}
	return a
}

// fsArgs are the bwrap options shared by the holder and every Exec: no capabilities, the
// root, /proc, /dev, then shm (the options that make /dev/shm), the writable folders and the
// mounts.
func (s *box) fsArgs(shm []string) []string {
	a := []string{"--cap-drop", "ALL", "--die-with-parent", "--new-session"}
	if s.spec.RootFS != "" {
		a = append(a, "--ro-bind", s.spec.RootFS, "/")
	} else {
		a = append(a, HostSystem()...)
	}
	a = append(append(a, "--proc", "/proc", "--dev", "/dev"), shm...)
	for _, w := range writable {
		a = append(a, "--bind", s.host(w), w)
	}
	for _, m := range s.spec.Mounts {
		a = append(a, "--ro-bind", m.Source, m.Target)
	}
	return a
}

// shmArgs make /dev/shm: in a persistent sandbox the tmpfs in its folder, shared by all its
// processes; else a tmpfs of the asked size (nothing asked: bwrap's /dev has its own).
func (s *box) shmArgs(persistent bool) []string {
	switch {
	case persistent:
		return []string{"--bind", filepath.Join(s.dir, shmDir), "/dev/shm"}
	case s.spec.ShmBytes > 0:
		return []string{"--size", strconv.FormatInt(s.spec.ShmBytes, 10), "--tmpfs", "/dev/shm"}
	}
	return nil
}

// envArgs clear the environment and set PATH, HOME, the spec's and the request's variables
// and, when tag is set, the call's tag.
func (s *box) envArgs(env map[string]string, tag string) []string {
	a := []string{"--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "--setenv", "HOME", "/home"}
	for _, env := range []map[string]string{s.spec.Env, env} {
		for k, v := range env {
			a = append(a, "--setenv", k, v)
		}
	}
	if tag != "" {
		a = append(a, "--setenv", tagVar, tag)
	}
	return a
}

// execArgv is the full host argv of one Exec, and the files it passes from fd 3 on: the
// cgroup and rlimit prefix, then a bwrap that joins the holder's namespaces (h set) or
// makes fresh ones.
func (s *box) execArgv(h *holder, req sandbox.ExecRequest, tag string) ([]string, []*os.File, error) {
	cmdline, err := req.Command()
	if err != nil {
		return nil, nil, err
	}
	argv := append(s.cg.argv(), s.limits()...)
	ns, files := s.freshNamespaces(), []*os.File(nil)
	if h != nil {
		var prefix []string
		if prefix, ns, files, err = h.joinArgs(s.p.Nsenter); err != nil {
			return nil, nil, err
		}
		argv = append(argv, prefix...)
	}
	argv = append(append(argv, s.p.Bwrap), ns...)
	argv = append(argv, s.fsArgs(s.shmArgs(h != nil))...)
	argv = append(argv, s.envArgs(req.Env, tag)...)
	argv = append(argv, "--chdir", cmpStr(req.Dir, s.spec.Workdir, "/submission"), "--")
	return append(argv, cmdline...), files, nil
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

// limits returns the prlimit prefix for the spec's rlimits. (No RLIMIT_CPU: it counts every
// thread of a process and would outlive the call in a detached process; the timeout kill
// does not need it.)
func (s *box) limits() []string {
	var a []string
	if s.spec.MemBytes > 0 && !s.cg.enforces("memory:cgroup") {
		a = append(a, "--as="+strconv.FormatInt(s.spec.MemBytes, 10))
	}
	if s.spec.MaxProcs > 0 && !s.cg.enforces("pids:cgroup") {
		a = append(a, "--nproc="+strconv.Itoa(s.spec.MaxProcs))
	}
	if len(a) == 0 {
		return nil
	}
	return append(append([]string{"prlimit"}, a...), "--")
}

// drainWait bounds the wait for the output to close once the call's processes are killed.
const drainWait = 10 * time.Second

// Exec implements sandbox.Sandbox. The command's output is a pipe latent made; when the
// command exits, every process still holding that pipe half a second later is killed, so
// Exec returns then, while a process that let go of the output lives on (in a persistent
// sandbox). The timeout, or a cancelled ctx, kills bwrap's process group and every process
// carrying the call's tag. Stdin is fed through a pipe that is closed when the command ends,
// so a reader that never reaches EOF cannot hold Exec open.
func (s *box) Exec(ctx context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	h, tag, err := s.prepareExec()
	if err != nil {
		return sandbox.ExecResult{}, err
	}
	argv, files, err := s.execArgv(h, req, tag)
	if err != nil {
		return sandbox.ExecResult{}, err
	}
	defer closeAll(files)
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if req.Timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, req.Timeout)
	}
	defer cancel()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = files
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := newOutput(req)
	if err != nil {
		return sandbox.ExecResult{}, err
	}
	cmd.Stdout, cmd.Stderr = out.w, out.w
	stdin, err := feedStdin(cmd, req.Stdin)
	if err != nil {
		out.close()
		return sandbox.ExecResult{}, err
	}
	start := time.Now()
	err = cmd.Start()
	stdin.started()
	out.started()
	if err != nil {
		stdin.stop()
		out.close()
		return sandbox.ExecResult{}, fmt.Errorf("sandbox local: start bwrap: %w", err)
	}
	// In a fresh sandbox, the kernel kills what the call left with its pid namespace; in a
	// persistent one, the call's processes are found by tag and by output.
	werr, timedOut := wait(ctx, cctx, cmd, func() {
		if h != nil {
			killCall(h.pidNS, out.stat, tag)
		}
	})
	stdin.stop()
	if h != nil {
		killHolders(h.pidNS, out.stat)
	}
	res := sandbox.ExecResult{TimedOut: timedOut, ExitCode: cmd.ProcessState.ExitCode()}
	res.Output, res.Truncated = out.finish()
	res.Duration = time.Since(start)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return res, fmt.Errorf("sandbox local: %w", werr)
	}
	return res, nil
}

// prepareExec checks that the sandbox is open, starts its holder (and mounts its /dev/shm)
// when it is persistent and has none running (first Exec, or the holder died), and returns
// the call's tag.
func (s *box) prepareExec() (*holder, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, "", errors.New("sandbox local: exec on a closed sandbox")
	}
	s.execs++
	tag := fmt.Sprintf("%s-%d-%d", s.id, s.execs, time.Now().UnixNano())
	if s.p.Nsenter == "" {
		return nil, tag, nil
	}
	if !s.shmMounted {
		if err := mountShm(s.dir, s.spec.ShmBytes); err != nil {
			return nil, "", err
		}
		s.shmMounted = true
	}
	if s.holder == nil || !s.holder.alive() {
		h, err := s.startHolder()
		if err != nil {
			return nil, "", err
		}
		s.holder = h
	}
	return s.holder, tag, nil
}

// wait waits for cmd, killing its process group and then the rest of the call (kill) when
// cctx ends first; timedOut is true when cctx ended on its own deadline rather than through
// the caller's ctx.
func wait(ctx, cctx context.Context, cmd *exec.Cmd, kill func()) (err error, timedOut bool) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
		return err, false
	case <-cctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		kill()
		return <-done, ctx.Err() == nil
	}
}

// output is an Exec's stdout and stderr: an OS pipe (so that the processes holding it can
// be found by its inode) copied into the capped capture and the live stream.
type output struct {
	r, w    *os.File
	stat    os.FileInfo
	capture *sandbox.Capture
	copied  chan struct{}
}

func newOutput(req sandbox.ExecRequest) (*output, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox local: output pipe: %w", err)
	}
	fi, err := r.Stat()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sandbox local: output pipe: %w", err)
	}
	o := &output{r: r, w: w, stat: fi, copied: make(chan struct{})}
	var dst io.Writer
	o.capture, dst = req.Output()
	go func() {
		io.Copy(dst, r)
		close(o.copied)
	}()
	return o, nil
}

// started drops latent's copy of the write end once the command holds its own.
func (o *output) started() { o.w.Close() }

// close ends the output of a command that never started.
func (o *output) close() {
	o.w.Close()
	o.r.Close()
	<-o.copied
}

// finish waits (within drainWait) for the last writer to go, then returns the kept output.
func (o *output) finish() ([]byte, bool) {
	select {
	case <-o.copied:
	case <-time.After(drainWait):
	}
	o.r.Close()
	<-o.copied
	return o.capture.Bytes()
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

// Close implements sandbox.Sandbox: it kills the holder (and with it every process in the
// sandbox) and removes the sandbox's folder; safe to call twice.
func (s *box) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.holder != nil {
		s.holder.stop()
	}
	if err := removeSandbox(s.dir, s.cg); err != nil {
		return fmt.Errorf("sandbox local: close: %w", err)
	}
	return nil
}
