// Package kubernetes is the sandbox backend on a Kubernetes cluster, through client-go. A
// sandbox is one Pod: requests equal to limits for CPU, memory and ephemeral storage (the
// Guaranteed class), nvidia.com/gpu for GPUs, /dev/shm as a memory-backed emptyDir of the
// asked size, the runtime class the spec or the provider names (gVisor where the cluster has
// it), no service account token, no host namespaces or host paths, no privilege escalation.
// Network none is a NetworkPolicy that denies all ingress and egress of the pod, created
// before the pod and deleted with it (it holds only where the cluster's network plugin
// enforces NetworkPolicy).
//
// Every Exec, PutTar and GetTar is a pods/exec call through the API server ([Executor]; on a
// cluster, WebSocket with a fallback to SPDY). pods/exec cannot kill what it started, so each
// command runs under the shared tag wrapper ([sandbox.TagWrapper]): its processes carry
// LATENT_EXEC=<tag>, the wrapper kills them when the command exits, and a timeout runs the
// killer in a second exec. Tar goes through exec too: tar -x reads the caller's stream as
// stdin, tar -c writes to a pipe the caller reads, so no tree is ever held in memory.
//
// Pod operations (create and wait until running, delete, cleanup) take a slot of a
// provider-wide semaphore, so that 20 papers × 3 seeds do not storm the API server; exec
// streams take none (a reproduce.sh holds its exec for hours).
package kubernetes

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/latentlab/latent/paperbench/sandbox"
)

// Options configure a Provider; the zero value of each field is its default.
type Options struct {
	// Kubeconfig is the kubeconfig file; empty = $KUBECONFIG, else ~/.kube/config, else the
	// in-cluster service account.
	Kubeconfig string
	// Namespace holds the sandboxes; empty = the kubeconfig context's namespace, else "default".
	Namespace string
	// RuntimeClass is the pod's runtimeClassName when the spec names no Runtime.
	RuntimeClass string
	// MaxConcurrent bounds the pod operations in flight at once (default 8).
	MaxConcurrent int
	// StartTimeout bounds the wait for a pod to run (default 10 minutes: images are pulled).
	StartTimeout time.Duration
	// DefaultCPUs and DefaultMemBytes are the requests (= limits) of a spec that names none
	// (default 1 CPU, 2 GiB).
	DefaultCPUs     float64
	DefaultMemBytes int64
}

func (o Options) withDefaults() Options {
	o.Namespace = cmp.Or(o.Namespace, "default")
	o.MaxConcurrent = cmp.Or(o.MaxConcurrent, 8)
	o.StartTimeout = cmp.Or(o.StartTimeout, 10*time.Minute)
	o.DefaultCPUs = cmp.Or(o.DefaultCPUs, 1)
	o.DefaultMemBytes = cmp.Or(o.DefaultMemBytes, 2<<30)
	return o
}

// Provider creates sandboxes as pods in one namespace.
type Provider struct {
	c    kubernetes.Interface
	exec Executor
	opt  Options
	sem  chan struct{}
}

// New loads the kubeconfig opt names (or the default one, or the in-cluster account) and
// checks that the API server answers.
func New(ctx context.Context, opt Options) (*Provider, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = opt.Kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	switch {
	case clientcmd.IsEmptyConfig(err):
		return nil, errors.New("sandbox kubernetes: no kubeconfig: none at $KUBECONFIG or ~/.kube/config, no --kubeconfig given, and not running inside a cluster")
	case err != nil:
		return nil, fmt.Errorf("sandbox kubernetes: kubeconfig %s: %w", cmp.Or(opt.Kubeconfig, "(default)"), err)
	}
	if opt.Namespace == "" {
		opt.Namespace, _, _ = cc.Namespace()
	}
	cfg.QPS, cfg.Burst = 50, 100
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("sandbox kubernetes: client for %s: %w", cfg.Host, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Discovery().RESTClient().Get().AbsPath("/version").Do(pctx).Error(); err != nil {
		return nil, fmt.Errorf("sandbox kubernetes: no API server answers at %s: %w", cfg.Host, err)
	}
	return NewForClient(c, APIExecutor(cfg, c), opt), nil
}

// NewForClient is a provider on a given clientset and exec transport (tests pass client-go's
// fake clientset and an executor of their own).
func NewForClient(c kubernetes.Interface, exec Executor, opt Options) *Provider {
	opt = opt.withDefaults()
	return &Provider{c: c, exec: exec, opt: opt, sem: make(chan struct{}, opt.MaxConcurrent)}
}

// Name implements sandbox.Provider.
func (p *Provider) Name() string { return "kubernetes" }

// acquire takes a pod-operation slot; release gives it back.
func (p *Provider) acquire(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sandbox kubernetes: waiting for a pod-operation slot: %w", ctx.Err())
	}
}

func (p *Provider) release() { <-p.sem }

// Create implements sandbox.Provider: it creates the NetworkPolicy (for network none) and
// the pod, waits until the pod runs and makes the working folder.
func (p *Provider) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	name, err := podName()
	if err != nil {
		return nil, err
	}
	pod, err := p.podFor(name, spec)
	if err != nil {
		return nil, err
	}
	s := &box{p: p, spec: spec, name: name, policy: spec.Network != sandbox.NetworkFull}
	if err := p.start(ctx, s, pod); err != nil {
		return nil, err
	}
	wd := cmp.Or(spec.Workdir, defaultWorkdir)
	if r, err := s.Exec(ctx, sandbox.ExecRequest{Argv: []string{"mkdir", "-p", wd}, Dir: "/"}); err != nil || r.ExitCode != 0 {
		s.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("sandbox kubernetes: pod %s/%s (image %q) cannot make %s (the image needs bash, mkdir, sleep and tar): %v %s", p.opt.Namespace, name, spec.Image, wd, err, r.Output)
	}
	return s, nil
}

const defaultWorkdir = "/submission"

// start creates the policy and the pod in one slot and waits for the pod to run, removing
// both when it does not.
func (p *Provider) start(ctx context.Context, s *box, pod *corev1.Pod) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	if err := p.checkRuntimeClass(ctx, pod.Spec.RuntimeClassName); err != nil {
		return err
	}
	if s.policy {
		if _, err := p.c.NetworkingV1().NetworkPolicies(p.opt.Namespace).Create(ctx, denyAll(pod), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("sandbox kubernetes: network policy %s/%s: %w", p.opt.Namespace, pod.Name, err)
		}
	}
	_, err := p.c.CoreV1().Pods(p.opt.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		err = fmt.Errorf("sandbox kubernetes: create pod %s/%s: %w", p.opt.Namespace, pod.Name, err)
	} else {
		err = p.waitRunning(ctx, pod.Name)
	}
	if err != nil {
		return errors.Join(err, p.remove(context.WithoutCancel(ctx), pod.Name, s.policy))
	}
	return nil
}

// checkRuntimeClass fails with a clear error when the cluster has no such runtime class; a
// client not allowed to read runtime classes lets the pod's own admission decide.
func (p *Provider) checkRuntimeClass(ctx context.Context, name *string) error {
	if name == nil {
		return nil
	}
	_, err := p.c.NodeV1().RuntimeClasses().Get(ctx, *name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("sandbox kubernetes: runtime class %q not found in the cluster (kubectl get runtimeclass lists those there)", *name)
	case err != nil && !apierrors.IsForbidden(err):
		return fmt.Errorf("sandbox kubernetes: runtime class %q: %w", *name, err)
	}
	return nil
}

// podName is a fresh pod name (the fake clientset generates none, so the name is made here).
func podName() (string, error) {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("sandbox kubernetes: pod name: %w", err)
	}
	return "latent-sb-" + hex.EncodeToString(b), nil
}

// Cleanup implements sandbox.Provider: it deletes every latent pod carrying all the given
// labels, with its NetworkPolicy, and reports how many pods it removed (pods already being
// deleted are not counted again).
func (p *Provider) Cleanup(ctx context.Context, want sandbox.Labels) (int, error) {
	sel, err := selector(want)
	if err != nil {
		return 0, err
	}
	if err := p.acquire(ctx); err != nil {
		return 0, err
	}
	defer p.release()
	opts := metav1.ListOptions{LabelSelector: sel}
	pods, err := p.c.CoreV1().Pods(p.opt.Namespace).List(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("sandbox kubernetes: cleanup: list pods in %s: %w", p.opt.Namespace, err)
	}
	n := 0
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if err := p.deletePod(ctx, pod.Name); err != nil {
			return n, err
		}
		n++
	}
	pols, err := p.c.NetworkingV1().NetworkPolicies(p.opt.Namespace).List(ctx, opts)
	if err != nil {
		return n, fmt.Errorf("sandbox kubernetes: cleanup: list network policies in %s: %w", p.opt.Namespace, err)
	}
	for _, pol := range pols.Items {
		if err := p.deletePolicy(ctx, pol.Name); err != nil {
			return n, err
		}
	}
	return n, nil
}

// removeWait bounds a removal: callers pass an uncancelled context (Close after Ctrl-C), and an
// API server that stopped answering must not hold them forever.
const removeWait = time.Minute

// remove deletes a pod and, when it has one, its policy, in one slot.
func (p *Provider) remove(ctx context.Context, name string, policy bool) error {
	ctx, cancel := context.WithTimeout(ctx, removeWait)
	defer cancel()
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	err := p.deletePod(ctx, name)
	if policy {
		err = errors.Join(err, p.deletePolicy(ctx, name))
	}
	return err
}

// deleteGrace is the pods' termination grace: their init exits on SIGTERM at once.
const deleteGrace = 1

func (p *Provider) deletePod(ctx context.Context, name string) error {
	err := p.c.CoreV1().Pods(p.opt.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(deleteGrace))})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("sandbox kubernetes: delete pod %s/%s: %w", p.opt.Namespace, name, err)
	}
	return nil
}

func (p *Provider) deletePolicy(ctx context.Context, name string) error {
	err := p.c.NetworkingV1().NetworkPolicies(p.opt.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("sandbox kubernetes: delete network policy %s/%s: %w", p.opt.Namespace, name, err)
	}
	return nil
}

// denyAll is the NetworkPolicy of a network-none pod: it selects the pod alone and allows
// nothing in either direction.
func denyAll(pod *corev1.Pod) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{PodLabel: pod.Name}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
}

type box struct {
	p      *Provider
	spec   sandbox.Spec
	name   string
	policy bool // a NetworkPolicy was created with the pod
	mu     sync.Mutex
	closed bool
	execs  int
}

// Info implements sandbox.Sandbox.
func (s *box) Info() sandbox.Info {
	in := sandbox.Info{ID: s.name, Backend: "kubernetes", Enforced: []string{"namespaces:pod", "tree-kill:env-tag+output-holders", sandbox.Persistent + ":pod",
		"cpu:requests=limits", "memory:requests=limits", "service-account-token:none"}}
	if s.policy {
		in.Enforced = append(in.Enforced, "network:networkpolicy-deny-all (where the network plugin enforces NetworkPolicy)")
	} else {
		in.Enforced = append(in.Enforced, "network:cluster")
	}
	if rc := s.runtimeClass(); rc != "" {
		in.Enforced = append(in.Enforced, "runtime:"+rc)
	}
	for _, l := range []struct {
		asked bool
		name  string
	}{{s.spec.ShmBytes > 0, "shm:emptydir-memory"}, {s.spec.GPUs > 0, "gpus:nvidia.com/gpu"}, {s.spec.DiskBytes > 0, "disk:ephemeral-storage (eviction)"}} {
		if l.asked {
			in.Enforced = append(in.Enforced, l.name)
		}
	}
	if s.spec.MaxProcs > 0 {
		in.Unenforced = append(in.Unenforced, "pids (a pod spec has no process limit; the kubelet's podPidsLimit applies)")
	}
	return in
}

func (s *box) runtimeClass() string { return cmp.Or(s.spec.Runtime, s.p.opt.RuntimeClass) }

// Close implements sandbox.Sandbox: it deletes the pod and its policy; safe to call twice.
func (s *box) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	return s.p.remove(ctx, s.name, s.policy)
}

func (s *box) usable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("sandbox kubernetes: exec on a closed sandbox")
	}
	return nil
}

// nextTag returns a fresh LATENT_EXEC value for this sandbox.
func (s *box) nextTag() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.execs++
	return fmt.Sprintf("%s-%d-%d", s.name, s.execs, time.Now().UnixNano())
}
