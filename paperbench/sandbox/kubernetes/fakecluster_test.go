package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/latentlab/latent/paperbench/sandbox/kubernetes"
	"github.com/latentlab/latent/paperbench/sandbox/local"
)

// The fake cluster: client-go's fake clientset answers the API calls (pods, network
// policies, runtime classes, label selectors, watches), and a stand-in for the kubelet does
// what the fake clientset cannot: it marks pods running (or failed, for the error tests),
// and, for the conformance suite, starts every pod as a bubblewrap container on this host
// (user, pid, mount, network, ipc and uts namespaces unshared; the host's system folders
// read-only; /submission, /tmp and /home private) while pods/exec runs each command inside
// that container's namespaces with nsenter, so that all execs of one pod share its processes
// as in a real pod. Honestly: this exercises the backend's own exec, tar, timeout, tree-kill
// and output-cap code for real, but not client-go's WebSocket/SPDY transport, and not the
// pod's resource limits or NetworkPolicy, which only a cluster enforces (the network is off
// here because bwrap unshares it).

const testNamespace = "sandboxes"

// kubelet watches new latent pods in the fake clientset and gives each the status admit sets.
func kubelet(t testing.TB, c *fake.Clientset, admit func(*corev1.Pod)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.CoreV1().Pods(testNamespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != watch.Added || pod.Labels[kubernetes.ManagedBy] == "" {
				continue
			}
			admit(pod)
			if _, err := c.CoreV1().Pods(testNamespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
				t.Errorf("kubelet: status of %s: %v", pod.Name, err)
			}
		}
	}()
}

// running sets the status of a pod whose container started.
func running(pod *corev1.Pod) {
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: kubernetes.Container, Image: pod.Spec.Containers[0].Image,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
}

// bwrapRuntime runs the fake cluster's pods as bubblewrap containers and is their exec
// transport.
type bwrapRuntime struct {
	t    testing.TB
	base string
	mu   sync.Mutex
	pods map[string]*bwrapPod
}

type bwrapPod struct {
	cmd *exec.Cmd
	pid int      // the container's init, whose namespaces execs enter
	env []string // the container's environment
	dir string   // host folder of its writable folders
}

// fakeCluster is a provider on the fake clientset whose pods run under bubblewrap, with the
// runtime as its exec transport.
func fakeCluster(t testing.TB, opt kubernetes.Options) (*kubernetes.Provider, *fake.Clientset) {
	t.Helper()
	c, rt := bwrapCluster(t)
	opt.Namespace = testNamespace
	return kubernetes.NewForClient(c, rt, opt), c
}

// bwrapCluster is the fake clientset with a kubelet that runs its pods under bubblewrap.
func bwrapCluster(t testing.TB) (*fake.Clientset, *bwrapRuntime) {
	t.Helper()
	for _, tool := range []string{"bwrap", "nsenter", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the fake cluster's pods need %s (CI installs bubblewrap; nsenter is util-linux): %v", tool, err)
		}
	}
	c := fake.NewClientset()
	rt := &bwrapRuntime{t: t, base: t.TempDir(), pods: map[string]*bwrapPod{}}
	t.Cleanup(rt.stopAll)
	kubelet(t, c, rt.admit)
	w, err := c.CoreV1().Pods(testNamespace).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	go func() {
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Deleted {
				rt.stop(pod.Name)
			}
		}
	}()
	return c, rt
}

// admit starts the pod's container and marks it running, or failed when it cannot start.
func (rt *bwrapRuntime) admit(pod *corev1.Pod) {
	p, err := rt.start(pod)
	if err != nil {
		pod.Status.Phase = corev1.PodFailed
		pod.Status.Message = err.Error()
		return
	}
	rt.mu.Lock()
	rt.pods[pod.Name] = p
	rt.mu.Unlock()
	running(pod)
}

func (rt *bwrapRuntime) start(pod *corev1.Pod) (*bwrapPod, error) {
	dir := filepath.Join(rt.base, pod.Name)
	args := []string{"--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"}
	args = append(args, local.HostSystem()...)
	args = append(args, "--proc", "/proc", "--dev", "/dev")
	for _, w := range []string{"submission", "tmp", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, w), 0o777); err != nil {
			return nil, err
		}
		args = append(args, "--bind", filepath.Join(dir, w), "/"+w)
	}
	c := pod.Spec.Containers[0]
	args = append(append(args, "--info-fd", "3", "--"), c.Command...)
	info, infoW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer info.Close()
	cmd := exec.Command("bwrap", args...)
	cmd.ExtraFiles = []*os.File{infoW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	infoW.Close()
	if err != nil {
		return nil, fmt.Errorf("bwrap: %w", err)
	}
	var st struct {
		Pid int `json:"child-pid"`
	}
	if err := json.NewDecoder(info).Decode(&st); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("bwrap info: %w", err)
	}
	if err := awaitCommand(st.Pid, c.Command[0]); err != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		return nil, err
	}
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/home"}
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return &bwrapPod{cmd: cmd, pid: st.Pid, env: env, dir: dir}, nil
}

// awaitCommand waits until bwrap's init (pid, on the host) has a child running name: bwrap
// reports the pid before it has set up the mounts, and an exec entering them earlier would
// see the host's root.
func awaitCommand(pid int, name string) error {
	for range 1000 {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, k := range strings.Fields(string(kids)) {
			if cl, err := os.ReadFile("/proc/" + k + "/cmdline"); err == nil && strings.HasPrefix(string(cl), name+"\x00") {
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("bwrap (pid %d) never ran %s", pid, name)
}

// stop kills the pod's container (its pid namespace dies with its init) and removes its files.
func (rt *bwrapRuntime) stop(name string) {
	rt.mu.Lock()
	p := rt.pods[name]
	delete(rt.pods, name)
	rt.mu.Unlock()
	if p == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.cmd.Wait()
	os.RemoveAll(p.dir)
}

func (rt *bwrapRuntime) stopAll() {
	rt.mu.Lock()
	var names []string
	for n := range rt.pods {
		names = append(names, n)
	}
	rt.mu.Unlock()
	for _, n := range names {
		rt.stop(n)
	}
}

// Exec implements kubernetes.Executor as pods/exec does: it returns when the command has
// exited and its output has closed, does not wait for stdin to end, and a cancelled ctx ends
// only the client side (nsenter), not the command inside the pod.
func (rt *bwrapRuntime) Exec(ctx context.Context, ref kubernetes.PodRef, argv []string, st kubernetes.Streams) (int, error) {
	rt.mu.Lock()
	p := rt.pods[ref.Pod]
	rt.mu.Unlock()
	if p == nil || ref.Namespace != testNamespace || ref.Container != kubernetes.Container {
		return -1, fmt.Errorf("pods %q not found in %s (container %q)", ref.Pod, ref.Namespace, ref.Container)
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(p.pid), "-a", "-r", "-w", "--"}, argv...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, st.Stdout, st.Stderr
	cmd.WaitDelay = time.Second
	var stdinW *os.File
	if st.Stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return -1, err
		}
		defer r.Close()
		cmd.Stdin, stdinW = r, w
		go func() {
			io.Copy(w, st.Stdin)
			w.Close()
		}()
	}
	err := cmd.Run()
	if stdinW != nil {
		stdinW.Close()
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		return -1, err
	}
	return cmd.ProcessState.ExitCode(), nil
}
