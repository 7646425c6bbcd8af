package kubernetes_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/latentlab/latent/paperbench/sandbox"
	"github.com/latentlab/latent/paperbench/sandbox/kubernetes"
	"github.com/latentlab/latent/paperbench/sandbox/sandboxtest"
)

// withImage gives every spec an image, so the backend-neutral suite can run.
type withImage struct {
	*kubernetes.Provider
	image string
}

func (p withImage) Create(ctx context.Context, s sandbox.Spec) (sandbox.Sandbox, error) {
	if s.Image == "" {
		s.Image = p.image
	}
	return p.Provider.Create(ctx, s)
}

// TestConformanceFakeAPIBwrapPods runs the whole suite with the API calls against client-go's
// fake clientset and the pods as bubblewrap containers on this host (fakecluster_test.go
// says what that does and does not exercise).
func TestConformanceFakeAPIBwrapPods(t *testing.T) {
	p, _ := fakeCluster(t, kubernetes.Options{})
	sandboxtest.Run(t, withImage{p, "fake-image:1"})
}

// TestConformanceCluster runs the suite for real on the cluster KUBECONFIG names, with the
// image LATENT_K8S_TEST_IMAGE (default debian:bookworm-slim: it needs bash, coreutils,
// util-linux's setsid and tar) in LATENT_K8S_NAMESPACE (default: the context's namespace).
func TestConformanceCluster(t *testing.T) {
	if os.Getenv("KUBECONFIG") == "" {
		t.Skip("no KUBECONFIG: the conformance suite runs on a real cluster only when KUBECONFIG points at one (the fake-API run above covers the backend's own code)")
	}
	p, err := kubernetes.New(context.Background(), kubernetes.Options{Namespace: os.Getenv("LATENT_K8S_NAMESPACE")})
	if err != nil {
		t.Fatalf("KUBECONFIG is set but: %v", err)
	}
	image := os.Getenv("LATENT_K8S_TEST_IMAGE")
	if image == "" {
		image = "debian:bookworm-slim"
	}
	sandboxtest.Run(t, withImage{p, image})
}

// TestExecEnv (fake API, bubblewrap pods): pods/exec sets no environment, so the wrapper
// exports the request's; the spec's is the container's; a bad name fails with it.
func TestExecEnv(t *testing.T) {
	p, _ := fakeCluster(t, kubernetes.Options{})
	s, err := p.Create(context.Background(), sandbox.Spec{Image: "i", Env: map[string]string{"FROM_SPEC": "s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	r, err := s.Exec(context.Background(), sandbox.ExecRequest{Shell: `echo "$FROM_SPEC|$A_B|$LATENT_EXEC" | cut -c1-20; pwd`,
		Env: map[string]string{"A_B": "x y=z"}})
	if err != nil || !strings.HasPrefix(string(r.Output), "s|x y=z|latent-sb-") || !strings.HasSuffix(string(r.Output), "\n/submission\n") {
		t.Fatalf("env: %q %v", r.Output, err)
	}
	if _, err := s.Exec(context.Background(), sandbox.ExecRequest{Argv: []string{"true"}, Env: map[string]string{"A;B": "1"}}); err == nil || !strings.Contains(err.Error(), `"A;B"`) {
		t.Fatalf("bad env name: %v", err)
	}
}

// TestCancelKillsTree (fake API, bubblewrap pods): a cancelled context (Ctrl-C during a
// reproduction) ends Exec with the context's error and kills the command's whole tree in the
// pod, a detached background writer included.
func TestCancelKillsTree(t *testing.T) {
	p, _ := fakeCluster(t, kubernetes.Options{})
	s, err := p.Create(context.Background(), sandbox.Spec{Image: "i"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	_, err = s.Exec(ctx, sandbox.ExecRequest{Shell: "(setsid bash -c 'while true; do echo b >> /tmp/beat; sleep 0.1; done' &); sleep 60"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("exec after cancel: %v", err)
	}
	count := func() string {
		r, err := s.Exec(context.Background(), sandbox.ExecRequest{Shell: "wc -l < /tmp/beat"})
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(r.Output))
	}
	a := count()
	time.Sleep(500 * time.Millisecond)
	if b := count(); a == "0" || a != b {
		t.Fatalf("the tree outlived the cancel: %s then %s heartbeats", a, b)
	}
}

// recorder is an exec transport that runs nothing: it records each argv and answers exit 0
// (for the API tests, where only Create's mkdir runs).
type recorder struct {
	mu    sync.Mutex
	calls [][]string
}

func (r *recorder) Exec(ctx context.Context, ref kubernetes.PodRef, argv []string, st kubernetes.Streams) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, argv)
	return 0, nil
}

// apiOnly is a provider on the fake clientset whose kubelet gives every new pod the status
// admit sets, and whose execs only record.
func apiOnly(t *testing.T, opt kubernetes.Options, admit func(*corev1.Pod), objs ...runtime.Object) (*kubernetes.Provider, *fake.Clientset) {
	c := fake.NewClientset(objs...)
	kubelet(t, c, admit)
	opt.Namespace = testNamespace
	return kubernetes.NewForClient(c, &recorder{}, opt), c
}

func onlyPod(t *testing.T, c *fake.Clientset) corev1.Pod {
	t.Helper()
	l, err := c.CoreV1().Pods(testNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("want one pod, have %d (%v)", len(l.Items), err)
	}
	return l.Items[0]
}

func policies(t *testing.T, c *fake.Clientset) []networkingv1.NetworkPolicy {
	t.Helper()
	l, err := c.NetworkingV1().NetworkPolicies(testNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// TestPodSpec (fake API): the pod asks requests = limits, GPUs, the runtime class, a memory
// /dev/shm of the asked size, carries the labels, mounts no host path and no token, is not
// privileged; network none adds a deny-all NetworkPolicy for that pod alone; Close deletes both.
func TestPodSpec(t *testing.T) {
	gvisor := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc"}
	p, c := apiOnly(t, kubernetes.Options{}, running, gvisor)
	spec := sandbox.Spec{Image: "img:1", CPUs: 2.5, MemBytes: 4 << 30, ShmBytes: 1 << 30, GPUs: 2, DiskBytes: 20 << 30,
		Runtime: "gvisor", Env: map[string]string{"B": "2", "A": "1"}, Labels: sandbox.Labels{"run": "r1", "rollout": "/out/run/paper-1"}}
	s, err := p.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	pod := onlyPod(t, c)
	ctr := pod.Spec.Containers[0]
	want := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2500m"), corev1.ResourceMemory: resource.MustParse("4Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("20Gi"), kubernetes.GPUResource: resource.MustParse("2")}
	for name, q := range want {
		req, lim := ctr.Resources.Requests[name], ctr.Resources.Limits[name]
		if req.Cmp(q) != 0 || lim.Cmp(q) != 0 {
			t.Errorf("%s: request %s limit %s, want both %s", name, req.String(), lim.String(), q.String())
		}
	}
	if pod.Spec.RuntimeClassName == nil || *pod.Spec.RuntimeClassName != "gvisor" {
		t.Errorf("runtimeClassName %v", pod.Spec.RuntimeClassName)
	}
	if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("automountServiceAccountToken %v", a)
	}
	if sc := ctr.SecurityContext; sc == nil || sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("security context %+v", sc)
	}
	if pod.Spec.HostNetwork || pod.Spec.HostPID || pod.Spec.HostIPC {
		t.Error("a host namespace is shared")
	}
	shm := false
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("host path volume %s", v.Name)
		}
		if e := v.EmptyDir; e != nil && e.Medium == corev1.StorageMediumMemory && e.SizeLimit.Cmp(resource.MustParse("1Gi")) == 0 {
			shm = slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == v.Name && m.MountPath == "/dev/shm" })
		}
	}
	if !shm {
		t.Errorf("no 1Gi memory emptyDir at /dev/shm: %+v %+v", pod.Spec.Volumes, ctr.VolumeMounts)
	}
	if len(ctr.Env) != 2 || ctr.Env[0] != (corev1.EnvVar{Name: "A", Value: "1"}) {
		t.Errorf("env %+v", ctr.Env)
	}
	if pod.Labels["run"] != "r1" || pod.Labels[kubernetes.ManagedBy] == "" || pod.Labels[kubernetes.PodLabel] != pod.Name {
		t.Errorf("labels %v", pod.Labels)
	}
	if v := pod.Labels["rollout"]; v == "" || strings.Contains(v, "/") || !strings.Contains(pod.Annotations["latent.sandbox/labels"], "/out/run/paper-1") {
		t.Errorf("a path label value must be hashed and kept in an annotation: %q %v", v, pod.Annotations)
	}
	in := s.Info()
	for _, e := range []string{"runtime:gvisor", "gpus:nvidia.com/gpu", "shm:emptydir-memory", "cpu:requests=limits"} {
		if !slices.Contains(in.Enforced, e) {
			t.Errorf("Info().Enforced %v lacks %s", in.Enforced, e)
		}
	}
	pols := policies(t, c)
	if len(pols) != 1 {
		t.Fatalf("%d network policies, want 1", len(pols))
	}
	pol := pols[0].Spec
	if len(pol.Ingress) != 0 || len(pol.Egress) != 0 || len(pol.PolicyTypes) != 2 || pol.PodSelector.MatchLabels[kubernetes.PodLabel] != pod.Name {
		t.Errorf("policy is not deny-all for the pod: %+v", pol)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if l, _ := c.CoreV1().Pods(testNamespace).List(context.Background(), metav1.ListOptions{}); len(l.Items) != 0 || len(policies(t, c)) != 0 {
		t.Fatalf("close left %d pods, %d policies", len(l.Items), len(policies(t, c)))
	}
}

// TestNetworkFullHasNoPolicy (fake API): a full-network sandbox gets no NetworkPolicy.
func TestNetworkFullHasNoPolicy(t *testing.T) {
	p, c := apiOnly(t, kubernetes.Options{}, running)
	s, err := p.Create(context.Background(), sandbox.Spec{Image: "img:1", Network: sandbox.NetworkFull})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if n := len(policies(t, c)); n != 0 {
		t.Fatalf("%d policies for a full-network sandbox", n)
	}
	pod := onlyPod(t, c)
	if r := pod.Spec.Containers[0].Resources; r.Limits.Cpu().Cmp(resource.MustParse("1")) != 0 || r.Limits.Memory().Cmp(resource.MustParse("2Gi")) != 0 || r.Requests.Cpu().Cmp(*r.Limits.Cpu()) != 0 {
		t.Fatalf("default resources %+v", r)
	}
}

// TestStartFailures (fake API): a pull failure fails at once, an unschedulable pod after the
// start timeout with the scheduler's reason; each error names the pod, and nothing is left.
func TestStartFailures(t *testing.T) {
	pullFails := func(pod *corev1.Pod) {
		pod.Status.Phase = corev1.PodPending
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: kubernetes.Container, Image: pod.Spec.Containers[0].Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "manifest unknown"}}}}
	}
	unschedulable := func(pod *corev1.Pod) {
		pod.Status.Phase = corev1.PodPending
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}
	}
	for _, c := range []struct {
		name  string
		admit func(*corev1.Pod)
		want  []string
	}{
		{"pull", pullFails, []string{`image "no-such:1" cannot be pulled (ErrImagePull): manifest unknown`}},
		{"unschedulable", unschedulable, []string{"not running after 300ms", "Insufficient nvidia.com/gpu"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, cs := apiOnly(t, kubernetes.Options{StartTimeout: 300 * time.Millisecond}, c.admit)
			_, err := p.Create(context.Background(), sandbox.Spec{Image: "no-such:1", GPUs: 8})
			if err == nil {
				t.Fatal("create succeeded")
			}
			for _, w := range append(c.want, "pod "+testNamespace+"/latent-sb-") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if l, _ := cs.CoreV1().Pods(testNamespace).List(context.Background(), metav1.ListOptions{}); len(l.Items) != 0 || len(policies(t, cs)) != 0 {
				t.Errorf("a failed create left %d pods, %d policies", len(l.Items), len(policies(t, cs)))
			}
		})
	}
}

// TestBadSpecs (fake API): specs the backend cannot honour fail before any pod is made.
func TestBadSpecs(t *testing.T) {
	p, c := apiOnly(t, kubernetes.Options{}, running)
	for _, bad := range []struct {
		spec sandbox.Spec
		want string
	}{
		{sandbox.Spec{}, "no image"},
		{sandbox.Spec{Image: "i", RootFS: "/srv/root"}, "for the local backend"},
		{sandbox.Spec{Image: "i", Mounts: []sandbox.Mount{{Source: "/etc", Target: "/host-etc"}}}, "PersistentVolumeClaim"},
		{sandbox.Spec{Image: "i", Labels: sandbox.Labels{"bad key!": "x"}}, `label key "bad key!"`},
		{sandbox.Spec{Image: "i", MemBytes: 1 << 30, ShmBytes: 2 << 30}, "exceeds the memory limit"},
		{sandbox.Spec{Image: "i", Runtime: "gvisor"}, `runtime class "gvisor" not found`},
	} {
		if _, err := p.Create(context.Background(), bad.spec); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: error %v, want %q", bad.spec, err, bad.want)
		}
	}
	if l, _ := c.CoreV1().Pods(testNamespace).List(context.Background(), metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("bad specs left %d pods", len(l.Items))
	}
}

// TestCleanupByLabel (fake API): cleanup deletes the latent pods and policies carrying all
// the labels (a hashed path value included) and nothing else, not a foreign pod with the
// same labels.
func TestCleanupByLabel(t *testing.T) {
	foreign := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "not-ours", Namespace: testNamespace, Labels: map[string]string{"run": "a"}}}
	p, c := apiOnly(t, kubernetes.Options{}, running, foreign)
	for _, l := range []sandbox.Labels{{"run": "a", "stage": "x"}, {"run": "a", "rollout": "/runs/a b"}, {"run": "b"}} {
		if _, err := p.Create(context.Background(), sandbox.Spec{Image: "i", Labels: l}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.Cleanup(context.Background(), sandbox.Labels{"rollout": "/runs/a b"}); err != nil || n != 1 {
		t.Fatalf("cleanup by a path label removed %d, %v; want 1", n, err)
	}
	if n, err := p.Cleanup(context.Background(), sandbox.Labels{"run": "a"}); err != nil || n != 1 {
		t.Fatalf("cleanup removed %d, %v; want 1", n, err)
	}
	l, _ := c.CoreV1().Pods(testNamespace).List(context.Background(), metav1.ListOptions{})
	var left []string
	for _, pod := range l.Items {
		left = append(left, pod.Name+":"+pod.Labels["run"])
	}
	if len(l.Items) != 2 || len(policies(t, c)) != 1 || !slices.Contains(left, "not-ours:a") {
		t.Fatalf("left pods %v and %d policies; want not-ours and the run=b pod with its policy", left, len(policies(t, c)))
	}
}

// TestConcurrencyBound (fake API): with MaxConcurrent 2, six creates at once, whose pods stay
// pending until released, never have more than two pods created: a slot is held from the
// create until the pod runs.
func TestConcurrencyBound(t *testing.T) {
	var mu sync.Mutex
	released, pending := false, []string{}
	admit := func(pod *corev1.Pod) {
		mu.Lock()
		defer mu.Unlock()
		if released {
			running(pod)
		} else {
			pending = append(pending, pod.Name)
		}
	}
	p, c := apiOnly(t, kubernetes.Options{MaxConcurrent: 2}, admit)
	var created atomic.Int32
	c.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		created.Add(1)
		return false, nil, nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			s, err := p.Create(context.Background(), sandbox.Spec{Image: "i"})
			if err == nil {
				err = s.Close(context.Background())
			}
			errs <- err
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for created.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a third create, were it let through, would arrive now
	got := created.Load()
	mu.Lock()
	released = true
	for _, name := range pending {
		pod, err := c.CoreV1().Pods(testNamespace).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			running(pod)
			_, err = c.CoreV1().Pods(testNamespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Error(err)
		}
	}
	mu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got != 2 || created.Load() != 6 {
		t.Fatalf("%d pods created while two were pending, want 2 (the bound); %d in all, want 6", got, created.Load())
	}
}

// TestNoKubeconfig: without any kubeconfig the provider says so.
func TestNoKubeconfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", filepath.Join(home, "missing"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	_, err := kubernetes.New(context.Background(), kubernetes.Options{})
	if err == nil || !strings.Contains(err.Error(), "no kubeconfig") {
		t.Fatalf("error %v, want no kubeconfig", err)
	}
	_, err = kubernetes.New(context.Background(), kubernetes.Options{Kubeconfig: filepath.Join(home, "nope.yaml")})
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("explicit missing kubeconfig: %v", err)
	}
}
