package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/latentlab/latent/paperbench/sandbox"
)

// wrapper runs the command ("$@" after the tag) and, when it exits, kills the processes still
// holding its output (those it detached with their output redirected live on); the engine
// sets LATENT_EXEC in the exec's environment.
var wrapper = sandbox.TagWrapper("shift")

// killWait bounds the killer exec and the wait for the output to close after it.
const killWait = 30 * time.Second

// Exec implements sandbox.Sandbox.
func (s *box) Exec(ctx context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	if err := s.usable(); err != nil {
		return sandbox.ExecResult{}, err
	}
	argv, err := req.Command()
	if err != nil {
		return sandbox.ExecResult{}, err
	}
	tag := s.nextTag()
	env := append(envList(req.Env), "LATENT_EXEC="+tag)
	dir := req.Dir
	if dir == "" {
		dir = workdir(s.spec)
	}
	cr, err := s.p.c.ExecCreate(ctx, s.id, client.ExecCreateOptions{
		AttachStdin: req.Stdin != nil, AttachStdout: true, AttachStderr: true,
		Env: env, WorkingDir: dir, Cmd: append([]string{"bash", "-c", wrapper, "latent-exec", tag}, argv...),
	})
	if err != nil {
		return sandbox.ExecResult{}, fmt.Errorf("sandbox docker: exec: %w", err)
	}
	att, err := s.p.c.ExecAttach(ctx, cr.ID, client.ExecAttachOptions{})
	if err != nil {
		return sandbox.ExecResult{}, fmt.Errorf("sandbox docker: exec attach: %w", err)
	}
	defer att.Close()
	start := time.Now()
	res, err := s.stream(ctx, req, tag, &att.HijackedResponse)
	res.Duration = time.Since(start)
	if err != nil {
		return res, err
	}
	if res.ExitCode, err = s.exitCode(cr.ID); err != nil && res.TimedOut {
		res.ExitCode, err = -1, nil // the container was killed under it
	}
	return res, err
}

// stream feeds stdin, copies the output until the exec's stream closes, and on a timeout or a
// cancelled ctx kills the exec's tree and waits for the stream to close.
func (s *box) stream(ctx context.Context, req sandbox.ExecRequest, tag string, att *client.HijackedResponse) (sandbox.ExecResult, error) {
	capture, out := req.Output()
	if req.Stdin != nil {
		go func() {
			io.Copy(att.Conn, req.Stdin)
			att.CloseWrite()
		}()
	}
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(out, out, att.Reader)
		done <- err
	}()
	var expired <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout)
		defer t.Stop()
		expired = t.C
	}
	var res sandbox.ExecResult
	var err error
	select {
	case err = <-done:
	case <-expired:
		res.TimedOut = true
		err = s.killAndDrain(tag, att, done)
	case <-ctx.Done():
		s.killAndDrain(tag, att, done)
		err = ctx.Err()
	}
	res.Output, res.Truncated = capture.Bytes()
	if err != nil && !errors.Is(err, io.EOF) {
		return res, fmt.Errorf("sandbox docker: exec output: %w", err)
	}
	return res, nil
}

// killAndDrain runs the killer for tag in a second exec, then waits for the output to close.
// When the killer cannot run or the output stays open (a process limit reached by a fork
// bomb leaves no room for the killer), the whole container is killed: its files can still be
// copied out, but later execs fail.
func (s *box) killAndDrain(tag string, att *client.HijackedResponse, done <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), killWait)
	defer cancel()
	if err := s.kill(ctx, tag); err == nil {
		select {
		case err := <-done:
			return err
		case <-time.After(killWait / 3):
		}
	}
	if _, err := s.p.c.ContainerKill(ctx, s.id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("sandbox docker: stopping the container to end the command: %w", err)
	}
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		att.Close()
		<-done
		return errors.New("sandbox docker: output still open after the container was killed")
	}
}

func (s *box) kill(ctx context.Context, tag string) error {
	cr, err := s.p.c.ExecCreate(ctx, s.id, client.ExecCreateOptions{
		Cmd: sandbox.KillCommand(tag),
	})
	if err != nil {
		return fmt.Errorf("sandbox docker: kill: %w", err)
	}
	if _, err := s.p.c.ExecStart(ctx, cr.ID, client.ExecStartOptions{}); err != nil {
		return fmt.Errorf("sandbox docker: kill: %w", err)
	}
	for ctx.Err() == nil {
		if r, err := s.p.c.ExecInspect(ctx, cr.ID, client.ExecInspectOptions{}); err != nil || !r.Running {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ctx.Err()
}

// exitCode waits for the engine to mark the exec finished and returns its exit code.
func (s *box) exitCode(execID string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), killWait)
	defer cancel()
	for {
		r, err := s.p.c.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil {
			return -1, fmt.Errorf("sandbox docker: exec inspect: %w", err)
		}
		if !r.Running {
			return r.ExitCode, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}
