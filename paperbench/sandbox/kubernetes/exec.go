package kubernetes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/latentlab/latent/paperbench/sandbox"
)

// PodRef names the container an exec runs in.
type PodRef struct {
	Namespace, Pod, Container string
}

// Streams are an exec's standard streams; Stdin may be nil. Stdout and Stderr may be written
// from two goroutines at once.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Executor runs argv in a pod's container (pods/exec) and returns the command's exit code
// once its output has closed. A cancelled ctx ends the stream on the client side only: the
// command runs on in the pod (which is why the backend kills by tag).
type Executor interface {
	Exec(ctx context.Context, pod PodRef, argv []string, st Streams) (exitCode int, err error)
}

// APIExecutor is the Executor of a real cluster: pods/exec through the API server over
// WebSocket (protocol v5), falling back to SPDY where the server cannot upgrade to it.
func APIExecutor(cfg *rest.Config, c kubernetes.Interface) Executor { return apiExecutor{cfg, c} }

type apiExecutor struct {
	cfg *rest.Config
	c   kubernetes.Interface
}

func (e apiExecutor) Exec(ctx context.Context, pod PodRef, argv []string, st Streams) (int, error) {
	u := e.c.CoreV1().RESTClient().Post().Namespace(pod.Namespace).Resource("pods").Name(pod.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: pod.Container, Command: argv, Stdin: st.Stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL()
	spdy, err := remotecommand.NewSPDYExecutor(e.cfg, "POST", u)
	if err != nil {
		return -1, fmt.Errorf("exec in pod %s/%s (SPDY): %w", pod.Namespace, pod.Pod, err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(e.cfg, "GET", u.String())
	if err != nil {
		return -1, fmt.Errorf("exec in pod %s/%s (WebSocket): %w", pod.Namespace, pod.Pod, err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return -1, err
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: st.Stdin, Stdout: st.Stdout, Stderr: st.Stderr})
	var ce utilexec.CodeExitError
	switch {
	case errors.As(err, &ce):
		return ce.Code, nil
	case err != nil:
		return -1, fmt.Errorf("exec in pod %s/%s: %w", pod.Namespace, pod.Pod, err)
	}
	return 0, nil
}

// wrapper is the tag wrapper of every command: pods/exec sets neither environment nor
// working folder, so it takes them as arguments: tag, folder, n, n NAME=VALUE pairs, argv.
var wrapper = sandbox.TagWrapper(`tag=$1 dir=$2 n=$3; shift 3
export LATENT_EXEC=$tag
for ((i = 0; i < n; i++)); do export "$1"; shift; done
cd "$dir" || exit 126`)

// killWait bounds the killer exec and the wait for the output to close after it.
const killWait = 30 * time.Second

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// command is one wrapped command to run.
type command struct {
	argv    []string
	dir     string
	env     map[string]string
	timeout time.Duration
}

// wrapped is the exec argv of c under tag.
func (c command) wrapped(tag string) ([]string, error) {
	a := []string{"bash", "-c", wrapper, "latent-exec", tag, c.dir, strconv.Itoa(len(c.env))}
	for _, k := range slices.Sorted(maps.Keys(c.env)) {
		if !envName.MatchString(k) {
			return nil, fmt.Errorf("sandbox kubernetes: environment variable name %q", k)
		}
		a = append(a, k+"="+c.env[k])
	}
	return append(a, c.argv...), nil
}

// Exec implements sandbox.Sandbox.
func (s *box) Exec(ctx context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	if err := s.usable(); err != nil {
		return sandbox.ExecResult{}, err
	}
	argv, err := req.Command()
	if err != nil {
		return sandbox.ExecResult{}, fmt.Errorf("sandbox kubernetes: %w", err)
	}
	capture, w := req.Output()
	out := &lockedWriter{w: w}
	start := time.Now()
	c := command{argv: argv, dir: cmp.Or(req.Dir, s.spec.Workdir, defaultWorkdir), env: req.Env, timeout: req.Timeout}
	var res sandbox.ExecResult
	res.ExitCode, res.TimedOut, err = s.run(ctx, c, Streams{Stdin: req.Stdin, Stdout: out, Stderr: out})
	res.Duration = time.Since(start)
	res.Output, res.Truncated = capture.Bytes()
	return res, err
}

// run runs c under a fresh tag; on its timeout or the end of ctx it kills the tag's processes
// in a second exec and waits for the output to close.
func (s *box) run(ctx context.Context, c command, st Streams) (exitCode int, timedOut bool, err error) {
	tag := s.nextTag()
	argv, err := c.wrapped(tag)
	if err != nil {
		return -1, false, err
	}
	// The stream outlives ctx until the killer has run, so that the output is drained.
	sctx, cancelStream := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStream()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := s.p.exec.Exec(sctx, s.ref(), argv, st)
		done <- result{code, err}
	}()
	var expired <-chan time.Time
	if c.timeout > 0 {
		t := time.NewTimer(c.timeout)
		defer t.Stop()
		expired = t.C
	}
	wait := func() (int, error) { r := <-done; return r.code, r.err }
	select {
	case r := <-done:
		if r.err != nil {
			return r.code, false, fmt.Errorf("sandbox kubernetes: %w", r.err)
		}
		return r.code, false, nil
	case <-expired:
		code, err := s.killAndDrain(tag, wait, cancelStream)
		return code, true, err
	case <-ctx.Done():
		s.killAndDrain(tag, wait, cancelStream)
		return -1, false, ctx.Err()
	}
}

// killAndDrain runs the killer for tag in a second exec, then waits for the command's output
// to close; when it stays open (a process that cleared its environment still holds it, or the
// killer could not run), the client side of the stream is closed and the error says so.
func (s *box) killAndDrain(tag string, wait func() (int, error), cancelStream func()) (int, error) {
	kctx, cancel := context.WithTimeout(context.Background(), killWait)
	defer cancel()
	_, kerr := s.p.exec.Exec(kctx, s.ref(), sandbox.KillCommand(tag), Streams{Stdout: io.Discard, Stderr: io.Discard})
	drained := make(chan struct{})
	var code int
	var err error
	go func() {
		code, err = wait()
		close(drained)
	}()
	select {
	case <-drained:
		if err != nil {
			return code, fmt.Errorf("sandbox kubernetes: exec output after the kill: %w", err)
		}
		return code, nil
	case <-kctx.Done():
	}
	cancelStream()
	<-drained
	return -1, fmt.Errorf("sandbox kubernetes: pod %s/%s: the command's output stayed open %v after its processes were killed (killer: %v); what holds it may still run", s.p.opt.Namespace, s.name, killWait, kerr)
}

func (s *box) ref() PodRef {
	return PodRef{Namespace: s.p.opt.Namespace, Pod: s.name, Container: Container}
}

// lockedWriter serialises the writes of an exec's stdout and stderr copiers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tarErrLimit is the stderr kept from tar for an error message.
const tarErrLimit = 4096

// PutTar implements sandbox.Sandbox: the stream is tar -x's stdin, read as it is sent.
func (s *box) PutTar(ctx context.Context, dir string, tar io.Reader) error {
	r, err := s.Exec(ctx, sandbox.ExecRequest{Argv: []string{"bash", "-c", `mkdir -p -- "$1" && exec tar -x -f - --no-same-owner -C "$1"`, "latent-put", dir},
		Dir: "/", Stdin: tar, OutputLimit: tarErrLimit})
	switch {
	case err != nil:
		return fmt.Errorf("sandbox kubernetes: copy into %s: %w", dir, err)
	case r.ExitCode != 0:
		return fmt.Errorf("sandbox kubernetes: copy into %s of pod %s/%s: tar -x exited with %d: %s", dir, s.p.opt.Namespace, s.name, r.ExitCode, r.Output)
	}
	return nil
}

// GetTar implements sandbox.Sandbox: tar -c writes into a pipe the caller reads (the exec
// waits on the reader), with entries rewritten relative to path. Closing the stream early
// kills the tar.
func (s *box) GetTar(ctx context.Context, path string) (io.ReadCloser, error) {
	r, err := s.Exec(ctx, sandbox.ExecRequest{Argv: []string{"test", "-d", path}, Dir: "/"})
	switch {
	case err != nil:
		return nil, fmt.Errorf("sandbox kubernetes: copy out of %s: %w", path, err)
	case r.ExitCode != 0:
		return nil, fmt.Errorf("sandbox kubernetes: %q is not a folder in pod %s/%s", path, s.p.opt.Namespace, s.name)
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		stderr := sandbox.NewCapture(tarErrLimit)
		code, _, err := s.run(ctx, command{argv: []string{"tar", "-c", "-f", "-", "-C", path, "."}, dir: "/"}, Streams{Stdout: pw, Stderr: &lockedWriter{w: stderr}})
		if err == nil && code != 0 {
			msg, _ := stderr.Bytes()
			err = fmt.Errorf("sandbox kubernetes: copy out of %s of pod %s/%s: tar -c exited with %d: %s", path, s.p.opt.Namespace, s.name, code, msg)
		}
		pw.CloseWithError(err)
	}()
	return sandbox.StripTop(cancelOnClose{pr, cancel}), nil
}

// cancelOnClose cancels the tar's exec when its reader is closed.
type cancelOnClose struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	c.cancel()
	return c.PipeReader.Close()
}
