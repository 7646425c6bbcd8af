// Package sandboxtest is the conformance suite every sandbox backend must pass: exec and exit
// codes, timeouts that kill the whole tree, a persistent computer (a detached process lives
// on to the next exec), output caps, tar in and out with odd names, no network to the host's
// loopback, host files out of reach, idempotent close and cleanup.
package sandboxtest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/archive"
	"github.com/latentlab/latent/paperbench/sandbox"
)

// Run runs the suite against p.
func Run(t *testing.T, p sandbox.Provider) {
	tests := []struct {
		name string
		fn   func(*testing.T, sandbox.Sandbox)
	}{
		{"exec", testExec},
		{"exit-code", testExitCode},
		{"timeout-kills-tree", testTimeout},
		{"exit-ends-background", testExitEndsBackground},
		{"detached-survives", testDetachedSurvives},
		{"timeout-kills-detached", testTimeoutKillsDetached},
		{"stdin-never-ends", testStdinNeverEnds},
		{"output-cap", testOutputCap},
		{"tar-round-trip", testTar},
		{"tar-file-over-1GB", testTarLarge},
		{"no-network", testNoNetwork},
		{"host-files-hidden", testHostHidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := create(t, p, sandbox.Labels{"suite": "conformance", "test": tc.name})
			tc.fn(t, s)
		})
	}
	t.Run("close-and-cleanup", func(t *testing.T) { testCleanup(t, p) })
}

func create(t *testing.T, p sandbox.Provider, l sandbox.Labels) sandbox.Sandbox {
	t.Helper()
	s, err := p.Create(context.Background(), sandbox.Spec{Labels: l})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func run(t *testing.T, s sandbox.Sandbox, req sandbox.ExecRequest) sandbox.ExecResult {
	t.Helper()
	r, err := s.Exec(context.Background(), req)
	if err != nil {
		t.Fatalf("exec %q: %v", req.Shell, err)
	}
	return r
}

func testExec(t *testing.T, s sandbox.Sandbox) {
	var live bytes.Buffer
	r := run(t, s, sandbox.ExecRequest{Argv: []string{"echo", "hello"}, Stream: &live})
	if r.ExitCode != 0 || string(r.Output) != "hello\n" || live.String() != "hello\n" {
		t.Fatalf("echo: exit %d output %q stream %q", r.ExitCode, r.Output, live.String())
	}
	r = run(t, s, sandbox.ExecRequest{Shell: "cat; pwd", Stdin: strings.NewReader("in\n"), Dir: "/tmp"})
	if string(r.Output) != "in\n/tmp\n" {
		t.Fatalf("stdin+dir: %q", r.Output)
	}
}

func testExitCode(t *testing.T, s sandbox.Sandbox) {
	for _, code := range []int{0, 1, 3, 42} {
		r := run(t, s, sandbox.ExecRequest{Shell: fmt.Sprintf("exit %d", code)})
		if r.ExitCode != code || r.TimedOut {
			t.Fatalf("exit %d: got %d timed out %v", code, r.ExitCode, r.TimedOut)
		}
	}
}

// testTimeout starts a detached background writer, times out, and checks the writer stopped.
func testTimeout(t *testing.T, s sandbox.Sandbox) {
	r := runBounded(t, s, sandbox.ExecRequest{
		Shell:   "(setsid bash -c 'while true; do date +%s%N >> /tmp/beat; sleep 0.1; done' &); sleep 60",
		Timeout: time.Second,
	})
	if !r.TimedOut || r.Duration > 30*time.Second {
		t.Fatalf("timed out %v after %v", r.TimedOut, r.Duration)
	}
	a := beats(t, s, "/tmp/beat")
	time.Sleep(time.Second)
	if b := beats(t, s, "/tmp/beat"); a == 0 || b != a {
		t.Fatalf("background child survived the timeout: %d then %d heartbeats", a, b)
	}
}

// hangLimit bounds an Exec that should return at once; past it the backend is hung (the
// suite fails instead of blocking until the test binary's own timeout).
const hangLimit = 2 * time.Minute

// runBounded is run for a command that must end on its own or by its timeout: an Exec still
// running after hangLimit fails the test.
func runBounded(t *testing.T, s sandbox.Sandbox, req sandbox.ExecRequest) sandbox.ExecResult {
	t.Helper()
	type reply struct {
		r   sandbox.ExecResult
		err error
	}
	ch := make(chan reply, 1)
	go func() {
		r, err := s.Exec(context.Background(), req)
		ch <- reply{r, err}
	}()
	select {
	case rep := <-ch:
		if rep.err != nil {
			t.Fatalf("exec %q: %v", req.Shell, rep.err)
		}
		return rep.r
	case <-time.After(hangLimit):
		t.Fatalf("exec %q still running after %v: the command had ended", req.Shell, hangLimit)
		return sandbox.ExecResult{}
	}
}

// beats counts the heartbeat lines in file inside the sandbox.
func beats(t *testing.T, s sandbox.Sandbox, file string) int {
	r := run(t, s, sandbox.ExecRequest{Shell: "cat " + file + " 2>/dev/null | wc -l"})
	var n int
	fmt.Sscan(string(r.Output), &n)
	return n
}

// testExitEndsBackground: the command exits at once, leaving a background child that holds its
// output open; Exec must return then (not at the timeout) and the child must be gone.
func testExitEndsBackground(t *testing.T, s sandbox.Sandbox) {
	r := runBounded(t, s, sandbox.ExecRequest{
		Shell:   "(while true; do echo beat >> /tmp/bg; sleep 0.1; done) & (setsid sleep 1000 &); echo started",
		Timeout: time.Minute,
	})
	if r.TimedOut || r.ExitCode != 0 || string(r.Output) != "started\n" {
		t.Fatalf("exec waited for its background child: timed out %v exit %d output %q after %v", r.TimedOut, r.ExitCode, r.Output, r.Duration)
	}
	a := beats(t, s, "/tmp/bg")
	time.Sleep(time.Second)
	if b := beats(t, s, "/tmp/bg"); b != a {
		t.Fatalf("background child outlived its command: %d then %d heartbeats", a, b)
	}
}

// detachedLoop is a heartbeat loop into file, detached: its output goes to /dev/null, not to
// the command's.
func detachedLoop(file string) string {
	return "bash -c 'while true; do date +%s%N >> " + file + "; sleep 0.1; done' > /dev/null 2>&1 < /dev/null &"
}

// testDetachedSurvives: a background process started by one exec, with its output
// redirected, is still alive in the next exec; the exec that started it returned at once.
func testDetachedSurvives(t *testing.T, s sandbox.Sandbox) {
	for _, u := range s.Info().Unenforced {
		if strings.HasPrefix(u, sandbox.Persistent) {
			t.Skipf("the backend keeps no process between execs here: %s", u)
		}
	}
	r := runBounded(t, s, sandbox.ExecRequest{Shell: detachedLoop("/tmp/keep") + " echo started", Timeout: time.Minute})
	if r.TimedOut || r.ExitCode != 0 || string(r.Output) != "started\n" {
		t.Fatalf("starting a detached process: timed out %v exit %d output %q after %v", r.TimedOut, r.ExitCode, r.Output, r.Duration)
	}
	time.Sleep(300 * time.Millisecond)
	a := beats(t, s, "/tmp/keep")
	time.Sleep(time.Second)
	if b := beats(t, s, "/tmp/keep"); a == 0 || b <= a {
		t.Fatalf("the detached process died with its exec: %d then %d heartbeats", a, b)
	}
}

// testTimeoutKillsDetached: a command that times out is killed with everything it started,
// the processes it detached included.
func testTimeoutKillsDetached(t *testing.T, s sandbox.Sandbox) {
	r := runBounded(t, s, sandbox.ExecRequest{Shell: detachedLoop("/tmp/beat") + " sleep 60", Timeout: time.Second})
	if !r.TimedOut {
		t.Fatalf("sleep 60 under a 1 s timeout: timed out %v exit %d after %v", r.TimedOut, r.ExitCode, r.Duration)
	}
	a := beats(t, s, "/tmp/beat")
	time.Sleep(time.Second)
	if b := beats(t, s, "/tmp/beat"); a == 0 || b != a {
		t.Fatalf("a process detached by a timed-out command survived: %d then %d heartbeats", a, b)
	}
}

// testStdinNeverEnds: a stdin that never reaches EOF must hold neither a command that ignores
// it nor one killed by its timeout.
func testStdinNeverEnds(t *testing.T, s sandbox.Sandbox) {
	pr, pw := io.Pipe()
	defer pw.Close()
	r := runBounded(t, s, sandbox.ExecRequest{Shell: "echo hi", Stdin: pr, Timeout: time.Minute})
	if r.TimedOut || string(r.Output) != "hi\n" {
		t.Fatalf("ended command held by stdin: timed out %v output %q", r.TimedOut, r.Output)
	}
	r = runBounded(t, s, sandbox.ExecRequest{Shell: "sleep 1000", Stdin: pr, Timeout: time.Second})
	if !r.TimedOut {
		t.Fatalf("timeout with an open stdin: timed out %v exit %d", r.TimedOut, r.ExitCode)
	}
}

func testOutputCap(t *testing.T, s sandbox.Sandbox) {
	r := run(t, s, sandbox.ExecRequest{Shell: "echo HEAD; head -c 100000 /dev/zero | tr '\\0' x; echo; echo TAIL", OutputLimit: 1000})
	out := string(r.Output)
	if !r.Truncated || !strings.HasPrefix(out, "HEAD") || !strings.HasSuffix(out, "TAIL\n") || !strings.Contains(out, "bytes cut") || len(out) > 1100 {
		t.Fatalf("cap: truncated %v, %d bytes, head %q tail %q", r.Truncated, len(out), out[:min(20, len(out))], out[max(0, len(out)-20):])
	}
}

func testTar(t *testing.T, s sandbox.Sandbox) {
	src := t.TempDir()
	names := []string{"a.txt", "sp ace/ü.bin", "-x", "quote'\"q", "d/e/f/g"}
	for i, n := range names {
		p := filepath.Join(src, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, bytes.Repeat([]byte{'a' + byte(i)}, 1000*i+1), 0o644)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteDir(pw, src)) }()
	if err := s.PutTar(context.Background(), "/submission/in", pr); err != nil {
		t.Fatalf("put: %v", err)
	}
	r := run(t, s, sandbox.ExecRequest{Shell: "cd /submission/in && cat 'sp ace/ü.bin' | wc -c && echo new > made"})
	if strings.TrimSpace(string(r.Output)) != "1001" {
		t.Fatalf("file inside: %q", r.Output)
	}
	rc, err := s.GetTar(context.Background(), "/submission/in")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer rc.Close()
	dst := t.TempDir()
	if err := archive.Extract(rc, dst, archive.Limits{}); err != nil {
		t.Fatalf("extract: %v", err)
	}
	for _, n := range append(names, "made") {
		want, _ := os.ReadFile(filepath.Join(src, n))
		if n == "made" {
			want = []byte("new\n")
		}
		if got, err := os.ReadFile(filepath.Join(dst, n)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%q back: %d bytes, %v", n, len(got), err)
		}
	}
}

// large is the size of the file testTarLarge moves each way: over 1 GiB, not a round number.
const large = 1<<30 + 12345

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// testTarLarge streams a file over 1 GiB in (generated, never on the host's disk), replaces it
// inside with another, and streams that out (read through tar.Reader, never extracted),
// checking sizes and the bytes out.
func testTarLarge(t *testing.T, s sandbox.Sandbox) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: "big.bin", Mode: 0o644, Size: large, Typeflag: tar.TypeReg})
		if err == nil {
			_, err = io.CopyN(tw, zeros{}, large)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	if err := s.PutTar(context.Background(), "/submission/large", pr); err != nil {
		t.Fatalf("put: %v", err)
	}
	r := run(t, s, sandbox.ExecRequest{Shell: "cd /submission/large && stat -c %s big.bin; " +
		"rm big.bin; head -c " + fmt.Sprint(large) + " /dev/zero > out.bin && stat -c %s out.bin"})
	if f := strings.Fields(string(r.Output)); len(f) != 2 || f[0] != fmt.Sprint(large) || f[1] != fmt.Sprint(large) {
		t.Fatalf("sizes inside: %q", r.Output)
	}
	rc, err := s.GetTar(context.Background(), "/submission/large")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no out.bin in the tar: %v", err)
		}
		if h.Name != "out.bin" {
			continue
		}
		n, err := io.Copy(onlyByte{t: t, b: 0}, tr)
		if err != nil || n != large || h.Size != large {
			t.Fatalf("out.bin: header %d, read %d bytes, %v", h.Size, n, err)
		}
		return
	}
}

// onlyByte fails the test on any byte other than b.
type onlyByte struct {
	t *testing.T
	b byte
}

func (o onlyByte) Write(p []byte) (int, error) {
	if i := bytes.IndexFunc(p, func(r rune) bool { return r != rune(o.b) }); i >= 0 {
		o.t.Fatalf("unexpected byte %q in the tar's file", p[i])
	}
	return len(p), nil
}

// HostListener listens on a host 127.0.0.1 port for the rest of the test, answers every
// connection with "REACHED\n" and counts them: what sandboxed code must not reach.
func HostListener(t testing.TB) (port int, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Write([]byte("REACHED\n"))
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, accepted
}

func testNoNetwork(t *testing.T, s sandbox.Sandbox) {
	port, _ := HostListener(t)
	r := run(t, s, sandbox.ExecRequest{Shell: fmt.Sprintf("timeout 5 bash -c 'cat < /dev/tcp/127.0.0.1/%d'", port)})
	if r.ExitCode == 0 || strings.Contains(string(r.Output), "REACHED") {
		t.Fatalf("host listener reachable: exit %d %q", r.ExitCode, r.Output)
	}
}

func testHostHidden(t *testing.T, s sandbox.Sandbox) {
	secret := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(secret, []byte("TOPSECRET"), 0o644)
	r := run(t, s, sandbox.ExecRequest{Shell: "cat " + secret + "; ls " + filepath.Dir(secret)})
	if r.ExitCode == 0 || strings.Contains(string(r.Output), "TOPSECRET") {
		t.Fatalf("host file readable: exit %d %q", r.ExitCode, r.Output)
	}
	// Writing the sandbox's own /usr may be allowed (a container's image); the host's must not
	// change.
	dir := filepath.Dir(secret)
	run(t, s, sandbox.ExecRequest{Shell: "echo x > /usr/pwned-latent; echo x > /etc/pwned-latent; echo x > " + dir + "/pwned"})
	for _, p := range []string{"/usr/pwned-latent", "/etc/pwned-latent", filepath.Join(dir, "pwned")} {
		if _, err := os.Stat(p); err == nil {
			os.Remove(p)
			t.Errorf("the sandbox wrote the host's %s", p)
		}
	}
}

func testCleanup(t *testing.T, p sandbox.Provider) {
	ctx := context.Background()
	run := fmt.Sprint("cleanup-", time.Now().UnixNano())
	s, err := p.Create(ctx, sandbox.Spec{Labels: sandbox.Labels{"run": run}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Exec(ctx, sandbox.ExecRequest{Shell: "true"}); err == nil {
		t.Fatal("exec after close succeeded")
	}
	for range 2 {
		if _, err := p.Create(ctx, sandbox.Spec{Labels: sandbox.Labels{"run": run, "stage": "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.Cleanup(ctx, sandbox.Labels{"run": run}); err != nil || n != 2 {
		t.Fatalf("cleanup removed %d, %v; want 2", n, err)
	}
	if n, _ := p.Cleanup(ctx, sandbox.Labels{"run": run}); n != 0 {
		t.Fatalf("second cleanup found %d", n)
	}
}
