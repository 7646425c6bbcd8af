package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/sandbox"
	"github.com/latentlab/latent/paperbench/sandbox/docker"
	"github.com/latentlab/latent/paperbench/sandbox/kubernetes"
	"github.com/latentlab/latent/paperbench/sandbox/local"
)

// backendFlags adds the flags that choose and reach a sandbox backend.
func backendFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("sandbox", "local", "sandbox backend: local (bubblewrap), docker (the engine named by DOCKER_HOST, else the local socket) or kubernetes (one pod per sandbox on the cluster of the kubeconfig)")
	f.String("sandbox-dir", "", "local backend: folder holding the sandboxes (default: the user cache folder's latent/sandboxes)")
	f.String("kubeconfig", "", "kubernetes backend: kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the in-cluster account)")
	f.String("namespace", "", "kubernetes backend: namespace of the sandbox pods (default: the kubeconfig context's, else default)")
	f.String("runtime-class", "", "kubernetes backend: runtimeClassName of the pods, e.g. gvisor (default: the cluster's default runtime)")
	f.Int("pod-ops", 8, "kubernetes backend: pod operations (create and wait, delete) in flight at once")
}

// newProvider builds the backend named by --sandbox, failing with what is missing and where.
func newProvider(cmd *cobra.Command) (sandbox.Provider, error) {
	f := cmd.Flags()
	name, _ := f.GetString("sandbox")
	switch name {
	case "local":
		dir, _ := f.GetString("sandbox-dir")
		if dir == "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				return nil, fmt.Errorf("local backend: no user cache folder (%v): give --sandbox-dir", err)
			}
			dir = filepath.Join(cache, "latent", "sandboxes")
		}
		return local.New(dir)
	case "docker":
		return docker.New(cmd.Context())
	case "kubernetes":
		opt := kubernetes.Options{Kubeconfig: mustString(cmd, "kubeconfig"), Namespace: mustString(cmd, "namespace"),
			RuntimeClass: mustString(cmd, "runtime-class")}
		opt.MaxConcurrent, _ = f.GetInt("pod-ops")
		if opt.MaxConcurrent < 1 {
			return nil, fmt.Errorf("--pod-ops %d: want 1 or more", opt.MaxConcurrent)
		}
		return kubernetes.New(cmd.Context(), opt)
	default:
		return nil, fmt.Errorf("unknown backend %q (want local, docker or kubernetes)", name)
	}
}

// parseLabels turns k=v strings into labels.
func parseLabels(kv []string) (sandbox.Labels, error) {
	l := sandbox.Labels{}
	for _, s := range kv {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q: want key=value", s)
		}
		l[k] = v
	}
	return l, nil
}

// sizeUnits are the suffixes parseSize accepts, powers of 1024 (k and K are the same).
var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"t", 40}, {"g", 30}, {"m", 20}, {"k", 10}, {"", 0}}

// parseSize reads a byte count such as 1048576, 512m, 16GiB or 2G (powers of 1024).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok || num == "" {
			continue
		}
		n, err := strconv.ParseFloat(num, 64)
		if err != nil || !(n >= 0) {
			break
		}
		v := n * float64(int64(1)<<u.shift)
		if v >= 1<<62 {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return int64(v), nil
	}
	return 0, fmt.Errorf("size %q: want a number of bytes, optionally with k, m, g or t (powers of 1024)", s)
}
