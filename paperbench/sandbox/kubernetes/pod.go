package kubernetes

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/latentlab/latent/paperbench/sandbox"
)

const (
	// ManagedBy marks every pod and policy this backend creates; Cleanup only touches those.
	ManagedBy    = "app.kubernetes.io/managed-by"
	managedValue = "latent-sandbox"
	// PodLabel names the pod on itself and its policy (the policy's pod selector).
	PodLabel = "latent.sandbox/pod"
	// labelsAnnotation keeps the spec's labels as given, where a value had to be hashed.
	labelsAnnotation = "latent.sandbox/labels"
	// Container is the name of the pod's one container.
	Container = "sandbox"
	// GPUResource is the extended resource GPUs are asked as (the NVIDIA device plugin's).
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
)

// initCommand is the container's pid 1: bash reaps every orphan the execs leave, and exits at
// once on SIGTERM so that deleting the pod is quick.
var initCommand = []string{"bash", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"}

// droppedCaps are dropped from the container, as the docker backend does.
var droppedCaps = []corev1.Capability{"NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP", "SYS_CHROOT"}

// podFor is the pod of spec, named name; bad specs fail here, before any API call.
func (p *Provider) podFor(name string, spec sandbox.Spec) (*corev1.Pod, error) {
	if spec.Image == "" {
		return nil, errors.New("sandbox kubernetes: the spec names no image")
	}
	if spec.RootFS != "" {
		return nil, fmt.Errorf("sandbox kubernetes: a root filesystem folder (%s) is for the local backend; name an image", spec.RootFS)
	}
	lbl, ann, err := podLabels(spec.Labels)
	if err != nil {
		return nil, err
	}
	lbl[PodLabel] = name
	res, err := p.resources(spec)
	if err != nil {
		return nil, err
	}
	vols, mounts, err := volumes(spec)
	if err != nil {
		return nil, err
	}
	c := corev1.Container{
		Name: Container, Image: spec.Image, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: initCommand, WorkingDir: "/", Env: envVars(spec.Env), Resources: res, VolumeMounts: mounts,
		SecurityContext: &corev1.SecurityContext{
			Privileged: new(false), AllowPrivilegeEscalation: new(false),
			Capabilities:   &corev1.Capabilities{Drop: droppedCaps},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.opt.Namespace, Labels: lbl, Annotations: ann},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{c},
			Volumes:                       vols,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  new(false),
			EnableServiceLinks:            new(false),
			TerminationGracePeriodSeconds: new(int64(deleteGrace)),
		},
	}
	if rc := cmp.Or(spec.Runtime, p.opt.RuntimeClass); rc != "" {
		if errs := validation.IsDNS1123Subdomain(rc); len(errs) > 0 {
			return nil, fmt.Errorf("sandbox kubernetes: runtime class %q: %s", rc, strings.Join(errs, "; "))
		}
		pod.Spec.RuntimeClassName = &rc
	}
	return pod, nil
}

// podLabels maps the spec's labels onto Kubernetes labels, with the managed-by label. Keys
// must be valid label keys; a value that is not a valid label value (a folder path, say) is
// replaced by a hash of it, and then all labels as given go into an annotation.
func podLabels(l sandbox.Labels) (map[string]string, map[string]string, error) {
	out := map[string]string{ManagedBy: managedValue}
	hashed := false
	for k, v := range l {
		if k == ManagedBy || k == PodLabel {
			return nil, nil, fmt.Errorf("sandbox kubernetes: label %q is the backend's own", k)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, nil, fmt.Errorf("sandbox kubernetes: label key %q: %s", k, strings.Join(errs, "; "))
		}
		out[k] = labelValue(v)
		hashed = hashed || out[k] != v
	}
	if !hashed {
		return out, nil, nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, nil, err
	}
	return out, map[string]string{labelsAnnotation: string(b)}, nil
}

// labelValue is v when it is a valid label value, else "h" and 40 hex digits of its SHA-256.
func labelValue(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "h" + hex.EncodeToString(sum[:20])
}

// selector selects the latent pods (and policies) carrying all of want.
func selector(want sandbox.Labels) (string, error) {
	set := labels.Set{ManagedBy: managedValue}
	for k, v := range want {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return "", fmt.Errorf("sandbox kubernetes: label key %q: %s", k, strings.Join(errs, "; "))
		}
		set[k] = labelValue(v)
	}
	return set.AsSelector().String(), nil
}

// resources sets requests equal to limits (the Guaranteed class) for CPU and memory, and for
// ephemeral storage and GPUs when the spec asks for them.
func (p *Provider) resources(spec sandbox.Spec) (corev1.ResourceRequirements, error) {
	cpus, mem := cmp.Or(spec.CPUs, p.opt.DefaultCPUs), cmp.Or(spec.MemBytes, p.opt.DefaultMemBytes)
	switch {
	case cpus < 0 || math.IsNaN(cpus) || math.IsInf(cpus, 0) || spec.MemBytes < 0 || spec.GPUs < 0 || spec.DiskBytes < 0 || spec.ShmBytes < 0:
		return corev1.ResourceRequirements{}, fmt.Errorf("sandbox kubernetes: negative or non-finite limit in the spec (cpus %v, memory %d, gpus %d, disk %d, shm %d)", spec.CPUs, spec.MemBytes, spec.GPUs, spec.DiskBytes, spec.ShmBytes)
	case spec.ShmBytes > mem:
		return corev1.ResourceRequirements{}, fmt.Errorf("sandbox kubernetes: /dev/shm of %d bytes exceeds the memory limit of %d (a memory emptyDir counts against it)", spec.ShmBytes, mem)
	}
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(math.Ceil(cpus*1000)), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
	}
	if spec.DiskBytes > 0 {
		rl[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(spec.DiskBytes, resource.BinarySI)
	}
	if spec.GPUs > 0 {
		rl[GPUResource] = *resource.NewQuantity(int64(spec.GPUs), resource.DecimalSI)
	}
	return corev1.ResourceRequirements{Requests: rl, Limits: rl.DeepCopy()}, nil
}

// volumes are /dev/shm (a memory emptyDir of the asked size) and the spec's mounts, each a
// PersistentVolumeClaim named by Mount.Source, mounted read-only. No host path is ever used.
func volumes(spec sandbox.Spec) ([]corev1.Volume, []corev1.VolumeMount, error) {
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	if spec.ShmBytes > 0 {
		vols = append(vols, corev1.Volume{Name: "dshm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: resource.NewQuantity(spec.ShmBytes, resource.BinarySI)}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "dshm", MountPath: "/dev/shm"})
	}
	for i, m := range spec.Mounts {
		if errs := validation.IsDNS1123Subdomain(m.Source); len(errs) > 0 || !path.IsAbs(m.Target) {
			return nil, nil, fmt.Errorf("sandbox kubernetes: mount %q -> %q: the source must name a PersistentVolumeClaim (host folders are never mounted) and the target be absolute", m.Source, m.Target)
		}
		name := fmt.Sprintf("mount-%d", i)
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: m.Source, ReadOnly: true}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: m.Target, ReadOnly: true})
	}
	return vols, mounts, nil
}

func envVars(env map[string]string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, corev1.EnvVar{Name: k, Value: env[k]})
	}
	return out
}

// waitRunning waits until the pod's container runs, failing at once when the image cannot
// be pulled, the container cannot start or the pod ended, and after the start timeout with
// the last reason it was waiting for (an unschedulable pod says why).
func (p *Provider) waitRunning(ctx context.Context, name string) error {
	wctx, cancel := context.WithTimeout(ctx, p.opt.StartTimeout)
	defer cancel()
	where := p.opt.Namespace + "/" + name
	waiting := "no status yet"
	for {
		w, pod, err := p.watchPod(wctx, name)
		if err != nil {
			return p.waitError(ctx, wctx, where, waiting, err)
		}
		running, why, err := waitEvents(wctx, w, pod)
		w.Stop()
		waiting = cmp.Or(why, waiting)
		switch {
		case running:
			return nil
		case err != nil:
			return p.waitError(ctx, wctx, where, waiting, err)
		}
		// the watch ended (the API server closes them now and then): watch again, after a pause
		select {
		case <-time.After(time.Second):
		case <-wctx.Done():
		}
	}
}

func (p *Provider) waitError(ctx, wctx context.Context, where, waiting string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("sandbox kubernetes: pod %s: %w", where, ctx.Err())
	case wctx.Err() != nil:
		return fmt.Errorf("sandbox kubernetes: pod %s not running after %v: %s", where, p.opt.StartTimeout, waiting)
	}
	return fmt.Errorf("sandbox kubernetes: pod %s: %w", where, err)
}

// watchPod opens a watch on the pod, then reads it (in that order, so no change is missed).
func (p *Provider) watchPod(ctx context.Context, name string) (watch.Interface, *corev1.Pod, error) {
	pods := p.c.CoreV1().Pods(p.opt.Namespace)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		return nil, nil, fmt.Errorf("watch: %w", err)
	}
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		w.Stop()
		return nil, nil, fmt.Errorf("get: %w", err)
	}
	return w, pod, nil
}

// waitEvents follows the pod's events until it runs, fails, or the watch or ctx ends (then
// running and err are both zero for a closed watch).
func waitEvents(ctx context.Context, w watch.Interface, pod *corev1.Pod) (running bool, waiting string, err error) {
	for {
		running, why, err := podState(pod)
		if running || err != nil {
			return running, why, err
		}
		waiting = why
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, waiting, nil
			}
			if ev.Type == watch.Error {
				return false, waiting, nil
			}
			// The field selector names one pod, but a watch that ignores it (client-go's fake
			// clientset does) must not take another pod's deletion for this one's.
			next, ok := ev.Object.(*corev1.Pod)
			if !ok || next.Name != pod.Name {
				continue
			}
			if ev.Type == watch.Deleted {
				return false, waiting, errors.New("deleted while starting")
			}
			pod = next
		case <-ctx.Done():
			return false, waiting, ctx.Err()
		}
	}
}

// fatalWaits are container waiting reasons that do not clear on their own.
var fatalWaits = map[string]bool{"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"ErrImageNeverPull": true, "CreateContainerConfigError": true, "CreateContainerError": true,
	"RunContainerError": true, "CrashLoopBackOff": true}

// podState says whether the pod's container runs, else what it waits for, or why it never will.
func podState(pod *corev1.Pod) (running bool, waiting string, err error) {
	for _, cs := range pod.Status.ContainerStatuses {
		switch {
		case cs.State.Running != nil && pod.Status.Phase == corev1.PodRunning:
			return true, "", nil
		case cs.State.Waiting != nil && fatalWaits[cs.State.Waiting.Reason]:
			wt := cs.State.Waiting
			if strings.Contains(wt.Reason, "Image") {
				return false, "", fmt.Errorf("image %q cannot be pulled (%s): %s", cs.Image, wt.Reason, wt.Message)
			}
			return false, "", fmt.Errorf("container cannot start (%s): %s", wt.Reason, wt.Message)
		case cs.State.Terminated != nil:
			t := cs.State.Terminated
			return false, "", fmt.Errorf("container exited with %d (%s): %s", t.ExitCode, t.Reason, t.Message)
		case cs.State.Waiting != nil:
			waiting = "container waiting: " + cs.State.Waiting.Reason
		}
	}
	switch pod.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return false, "", fmt.Errorf("pod ended in phase %s (%s): %s", pod.Status.Phase, pod.Status.Reason, pod.Status.Message)
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return false, fmt.Sprintf("not scheduled (%s): %s", c.Reason, c.Message), nil
		}
	}
	return false, cmp.Or(waiting, "phase "+cmp.Or(string(pod.Status.Phase), "unknown")), nil
}
