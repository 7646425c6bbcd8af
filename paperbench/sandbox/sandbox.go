// Package sandbox is the computer PaperBench runs untrusted code in: an agent's tool calls, a
// submission's reproduce.sh. A computer is created from a [Spec] by a [Provider] (a backend:
// bubblewrap on the host, the Docker Engine, Kubernetes) and offers three verbs, run a command
// ([Sandbox.Exec]), copy a folder in ([Sandbox.PutTar]) and copy a folder out
// ([Sandbox.GetTar]), plus an idempotent Close. Limits (time, output, memory, network) are part
// of the contract: a timeout kills the whole process tree inside the computer, output is capped
// head and tail, and the network is off unless the spec asks for it.
//
// A computer is persistent, as the official agents' container is: a process that one command
// detaches, by letting go of the command's output (nohup server > log 2>&1 &), keeps running
// between Execs until Close. When a command exits, the processes still holding its output
// are killed, so that Exec returns when the command does. A command that times out, or whose
// context is cancelled, is killed with everything it started, detached or not: an agent that
// wants a server to outlive a slow step starts it in a call of its own. Info lists
// [Persistent] in Enforced, or in Unenforced with the reason where the backend cannot keep
// processes between Execs.
package sandbox

import (
	"context"
	"io"
	"time"
)

// Network says what a sandbox may reach.
type Network string

const (
	// NetworkNone: no network at all beyond loopback inside the sandbox (the default).
	NetworkNone Network = "none"
	// NetworkFull: the host's outside network (never the host's own loopback services).
	NetworkFull Network = "full"
)

// Labels identify a sandbox for cleanup of crashed runs (keys such as "run", "stage", "attempt").
type Labels map[string]string

// Mount is a host folder (or, for remote backends, a volume name) made visible read-only.
type Mount struct {
	Source string // host path
	Target string // absolute path inside the sandbox
}

// Spec describes a computer to create. The zero value of every limit means "backend default".
type Spec struct {
	Image    string // docker/kubernetes image name
	RootFS   string // local backend: a root filesystem folder; empty = the host's system folders read-only
	CPUs     float64
	MemBytes int64
	ShmBytes int64
	// DiskBytes caps the sandbox's writable space where the backend can enforce it.
	DiskBytes int64
	GPUs      int
	// Runtime is a backend-specific runtime (runc, runsc/gvisor, nvidia); empty = default.
	Runtime string
	Network Network // "" means NetworkNone
	Env     map[string]string
	Mounts  []Mount
	Labels  Labels
	Workdir string // default working folder for Exec
	// MaxProcs caps the number of processes where the backend can.
	MaxProcs int
}

// ExecRequest is one command to run. Exactly one of Argv and Shell is set; Shell is a bash
// command line (run as bash -c).
type ExecRequest struct {
	Argv  []string
	Shell string
	Dir   string
	Env   map[string]string
	Stdin io.Reader
	// Timeout kills the command's whole process tree inside the sandbox when it expires; 0 = none.
	Timeout time.Duration
	// OutputLimit caps the output kept in ExecResult.Output (stdout and stderr interleaved):
	// the first and last halves are kept and a note says how much was cut. 0 = DefaultOutputLimit.
	OutputLimit int
	// Stream, when set, receives all output live, uncapped.
	Stream io.Writer
}

// DefaultOutputLimit is the output kept by Exec when ExecRequest.OutputLimit is 0.
const DefaultOutputLimit = 1 << 20

// ExecResult is what a finished command left.
type ExecResult struct {
	ExitCode  int
	Output    []byte // combined stdout and stderr, capped head and tail
	TimedOut  bool
	Truncated bool
	Duration  time.Duration
}

// Persistent names, in Info, the guarantee that detached processes live between Execs.
const Persistent = "persistent"

// Info describes a created sandbox.
type Info struct {
	ID      string
	Backend string
	// Enforced lists the limits the backend actually enforces (for example "memory:cgroup",
	// "nproc:rlimit", "network:none"), so a run's record can say what held.
	Enforced []string
	// Unenforced lists the limits the spec asked for that the backend could not enforce here,
	// each with the reason.
	Unenforced []string
}

// Sandbox is one computer.
type Sandbox interface {
	Exec(ctx context.Context, req ExecRequest) (ExecResult, error)
	// PutTar unpacks a tar stream into dir inside the sandbox (dir is created).
	PutTar(ctx context.Context, dir string, tar io.Reader) error
	// GetTar streams the folder at path inside the sandbox as a tar; entries are relative to it.
	GetTar(ctx context.Context, path string) (io.ReadCloser, error)
	Info() Info
	// Close stops and removes the sandbox and everything it started; safe to call twice.
	Close(ctx context.Context) error
}

// Provider is a backend that creates sandboxes.
type Provider interface {
	Name() string
	Create(ctx context.Context, spec Spec) (Sandbox, error)
	// Cleanup removes every sandbox whose labels include all of the given ones and reports
	// how many it removed.
	Cleanup(ctx context.Context, labels Labels) (int, error)
}
