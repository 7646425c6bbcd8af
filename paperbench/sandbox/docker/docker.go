// Package docker is the sandbox backend on a Docker Engine, through the official Go client
// (github.com/moby/moby/client). A sandbox is one container of a local image (never pulled),
// kept alive by docker-init running sleep; every Exec is a docker exec. The network is "none"
// unless the spec asks for it; CPU, memory (swap included), process and /dev/shm limits are
// the container's; GPUs are device requests. The Docker socket is never mounted: Create
// refuses any mount whose source is a socket.
//
// The container is persistent: a process a command detaches (output redirected away from
// the exec) keeps running until Close. A docker exec does not end when its command does if a
// background child still holds the output, and the engine has no call that kills an exec.
// So each command runs under a bash wrapper that, when the command exits, kills every
// process still holding its stdout or stderr (after half a second's grace); and it tags
// every process the command starts with LATENT_EXEC=<id> in the environment, so that a
// timeout (or a cancelled context) kills the whole call, detached processes included, from a
// second exec. A process that clears its own environment escapes the tag; Close removes the
// whole container in any case.
package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/latentlab/latent/paperbench/sandbox"
)

// Label marks every container this backend creates; Cleanup only ever touches those.
const Label = "latent.sandbox"

// Provider creates sandboxes on one Docker Engine.
type Provider struct {
	c *client.Client
}

// New connects to the engine named by the environment (DOCKER_HOST, else the local socket)
// and checks that it answers.
func New(ctx context.Context) (*Provider, error) {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("sandbox docker: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("sandbox docker: no Docker engine answers at %s: %w", c.DaemonHost(), err)
	}
	return &Provider{c: c}, nil
}

// Client is the engine client (tests use it to build images).
func (p *Provider) Client() *client.Client { return p.c }

// Name implements sandbox.Provider.
func (p *Provider) Name() string { return "docker" }

// Check reports whether spec could be created: an image is named and present on the engine.
func (p *Provider) Check(ctx context.Context, spec sandbox.Spec) error {
	if spec.Image == "" {
		return errors.New("sandbox docker: the spec names no image")
	}
	if _, err := p.c.ImageInspect(ctx, spec.Image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("sandbox docker: image %q not found on %s (images are never pulled: build, load or import it first)", spec.Image, p.c.DaemonHost())
		}
		return fmt.Errorf("sandbox docker: image %q: %w", spec.Image, err)
	}
	return nil
}

// Create implements sandbox.Provider.
func (p *Provider) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := p.Check(ctx, spec); err != nil {
		return nil, err
	}
	hc, err := hostConfig(spec)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{Label: "1"}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	cfg := &container.Config{
		Image:      spec.Image,
		Cmd:        []string{"sleep", "infinity"},
		Labels:     labels,
		WorkingDir: "/",
		Env:        envList(spec.Env),
	}
	res, err := p.c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: hc})
	if err != nil {
		return nil, fmt.Errorf("sandbox docker: create: %w", err)
	}
	s := &box{p: p, spec: spec, id: res.ID}
	if _, err := p.c.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		s.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("sandbox docker: start: %w", err)
	}
	if r, err := s.Exec(ctx, sandbox.ExecRequest{Argv: []string{"mkdir", "-p", workdir(spec)}, Dir: "/"}); err != nil || r.ExitCode != 0 {
		s.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("sandbox docker: image %q cannot make %s (it needs bash, mkdir, sleep): %v %s", spec.Image, workdir(spec), err, r.Output)
	}
	return s, nil
}

func workdir(spec sandbox.Spec) string {
	if spec.Workdir != "" {
		return spec.Workdir
	}
	return "/submission"
}

// hostConfig maps the spec's limits, mounts and network onto the container.
func hostConfig(spec sandbox.Spec) (*container.HostConfig, error) {
	init := true
	hc := &container.HostConfig{
		NetworkMode: "none",
		Init:        &init,
		ShmSize:     spec.ShmBytes,
		Runtime:     spec.Runtime,
		CapDrop:     []string{"NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP", "SYS_CHROOT"},
		SecurityOpt: []string{"no-new-privileges"},
	}
	if spec.Network == sandbox.NetworkFull {
		hc.NetworkMode = "bridge"
	}
	hc.Memory, hc.NanoCPUs = spec.MemBytes, int64(spec.CPUs*1e9)
	if spec.MemBytes > 0 {
		hc.MemorySwap = spec.MemBytes
	}
	if spec.MaxProcs > 0 {
		n := int64(spec.MaxProcs)
		hc.PidsLimit = &n
	}
	if spec.GPUs > 0 {
		hc.DeviceRequests = []container.DeviceRequest{{Count: spec.GPUs, Capabilities: [][]string{{"gpu"}}}}
	}
	for _, m := range spec.Mounts {
		fi, err := os.Stat(m.Source)
		switch {
		case err != nil:
			return nil, fmt.Errorf("sandbox docker: mount source %s: %w", m.Source, err)
		case fi.Mode()&os.ModeSocket != 0:
			return nil, fmt.Errorf("sandbox docker: mount source %s is a socket; sockets (the Docker socket above all) are never mounted into a sandbox", m.Source)
		}
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: true})
	}
	return hc, nil
}

func envList(env map[string]string) []string {
	var l []string
	for k, v := range env {
		l = append(l, k+"="+v)
	}
	return l
}

// Cleanup implements sandbox.Provider: it force-removes every latent container carrying all
// the given labels.
func (p *Provider) Cleanup(ctx context.Context, labels sandbox.Labels) (int, error) {
	f := client.Filters{}.Add("label", Label+"=1")
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	list, err := p.c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("sandbox docker: cleanup: %w", err)
	}
	n := 0
	for _, c := range list.Items {
		if err := p.remove(ctx, c.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (p *Provider) remove(ctx context.Context, id string) error {
	_, err := p.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("sandbox docker: remove %s: %w", id, err)
	}
	return nil
}

type box struct {
	p       *Provider
	spec    sandbox.Spec
	id      string
	mu      sync.Mutex
	closed  bool
	stopped bool // killed by killAndDrain
	execs   int
}

// Info implements sandbox.Sandbox.
func (s *box) Info() sandbox.Info {
	net := "network:none"
	if s.spec.Network == sandbox.NetworkFull {
		net = "network:bridge"
	}
	in := sandbox.Info{ID: s.id[:12], Backend: "docker", Enforced: []string{net, "namespaces:container", "tree-kill:env-tag+output-holders", sandbox.Persistent + ":container"}}
	for _, l := range []struct {
		asked bool
		name  string
	}{{s.spec.MemBytes > 0, "memory:cgroup"}, {s.spec.MaxProcs > 0, "pids:cgroup"}, {s.spec.CPUs > 0, "cpu:cgroup"}, {s.spec.ShmBytes > 0, "shm:size"}, {s.spec.GPUs > 0, "gpus:device-request"}} {
		if l.asked {
			in.Enforced = append(in.Enforced, l.name)
		}
	}
	if s.spec.DiskBytes > 0 {
		in.Unenforced = append(in.Unenforced, "disk (no storage quota on this engine's driver)")
	}
	return in
}

// PutTar implements sandbox.Sandbox: the stream goes to the engine as it is read.
func (s *box) PutTar(ctx context.Context, dir string, tar io.Reader) error {
	if r, err := s.Exec(ctx, sandbox.ExecRequest{Argv: []string{"mkdir", "-p", dir}, Dir: "/"}); err != nil || r.ExitCode != 0 {
		return fmt.Errorf("sandbox docker: mkdir %s: %v %s", dir, err, r.Output)
	}
	_, err := s.p.c.CopyToContainer(ctx, s.id, client.CopyToContainerOptions{DestinationPath: dir, Content: tar})
	if err != nil {
		return fmt.Errorf("sandbox docker: copy into %s: %w", dir, err)
	}
	return nil
}

// GetTar implements sandbox.Sandbox. The engine names entries "<base>/..."; the stream is
// rewritten on the fly so that entries are relative to path.
func (s *box) GetTar(ctx context.Context, path string) (io.ReadCloser, error) {
	res, err := s.p.c.CopyFromContainer(ctx, s.id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, fmt.Errorf("sandbox docker: copy out of %s: %w", path, err)
	}
	if !res.Stat.Mode.IsDir() {
		res.Content.Close()
		return nil, fmt.Errorf("sandbox docker: %q is not a folder in the sandbox", path)
	}
	return sandbox.StripTop(res.Content), nil
}

// Close implements sandbox.Sandbox: it force-removes the container; safe to call twice.
func (s *box) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.p.remove(ctx, s.id)
}

// usable fails for a closed sandbox, or one whose container was killed to end a command.
func (s *box) usable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("sandbox docker: exec on a closed sandbox")
	case s.stopped:
		return errors.New("sandbox docker: the container was killed to end a command that could not be killed otherwise (its files can still be copied out)")
	}
	return nil
}

// nextTag returns a fresh LATENT_EXEC value for this sandbox.
func (s *box) nextTag() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.execs++
	return fmt.Sprintf("%s-%d-%d", s.id[:12], s.execs, time.Now().UnixNano())
}
