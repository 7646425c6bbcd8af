package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/reproduce"
	"github.com/latentlab/latent/paperbench/sandbox"
	"github.com/latentlab/latent/paperbench/sandbox/docker/dockertest"
	"github.com/latentlab/latent/paperbench/sandbox/local"
	"github.com/latentlab/latent/paperbench/sandbox/sandboxtest"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostProcess reports whether a host process's command line contains s.
func hostProcess(s string) bool {
	ms, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range ms {
		b, _ := os.ReadFile(m)
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			return true
		}
	}
	return false
}

// hostile is a reproduce.sh that tries every way out it can; each success prints a marker.
// (A container may write its own /etc and /usr: the test checks the host's.)
const hostile = `
echo x > made.txt
ls /root/.bashrc /root/.ssh && echo SAW-ROOT
cat %[1]s/go.mod && echo READ-REPO
echo x > %[1]s/pwned && echo WROTE-REPO
echo x > /etc/pwned-latent; echo x > /usr/pwned-latent
(echo > /dev/tcp/127.0.0.1/%[2]d) && echo CONNECTED
tail -n +3 /proc/net/dev | grep -v ' lo:' | grep . && echo HAS-NIC
(setsid sleep 97%[3]d &)
(x=$(head -c 150000000 /dev/zero | tr '\0' a); echo HELD-${#x})
head -c 50000000 /dev/zero > /dev/shm/fill || echo SHM-FULL
head -c 200000000 /dev/zero > fill.bin || echo DISK-FULL
bomb() { bomb | bomb & }; bomb
sleep 600
`

// TestReproduceHostile runs the hostile script through the command on each backend with
// memory, process and shm limits, and checks each escape was contained and the record says
// what held.
func TestReproduceHostile(t *testing.T) {
	backends := []struct {
		name     string
		args     func(t *testing.T) []string
		enforced []string
		diskFull bool // the disk cap holds on this backend
	}{
		{"local", func(t *testing.T) []string { return []string{"--sandbox-dir", t.TempDir()} },
			[]string{"network:none", "memory:cgroup", "pids:cgroup", "shm:tmpfs-size", "disk:loop-ext4"}, true},
		{"docker", func(t *testing.T) []string {
			dockertest.Provider(t)
			return []string{"--sandbox", "docker", "--image", dockertest.Image, "--label", "test=" + t.Name()}
		}, []string{"network:none", "memory:cgroup", "pids:cgroup", "shm:size"}, false},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			args := b.args(t)
			rec, log := runHostile(t, args)
			if os.Geteuid() == 0 || b.name == "docker" {
				for _, want := range b.enforced {
					if !slices.Contains(rec.Attempts[0].Enforced, want) {
						t.Errorf("record lacks %s: %v", want, rec.Attempts[0].Enforced)
					}
				}
			}
			if full := strings.Contains(log, "DISK-FULL"); full != b.diskFull && os.Geteuid() == 0 {
				t.Errorf("disk cap held %v, want %v; unenforced %v", full, b.diskFull, rec.Attempts[0].Unenforced)
			}
			if !b.diskFull && len(rec.Attempts[0].Unenforced) == 0 {
				t.Errorf("the record does not say the disk cap was not enforced")
			}
			if !strings.Contains(log, "SHM-FULL") {
				t.Errorf("50 MB fit in an 8 MiB /dev/shm:\n%s", log)
			}
			if b.name == "local" {
				if es, _ := os.ReadDir(args[1]); len(es) != 0 {
					t.Errorf("sandbox left behind: %v", es)
				}
			}
		})
	}
}

// runHostile runs the hostile script with the backend's args and checks what every backend
// must contain; it returns the record and the log.
func runHostile(t *testing.T, backendArgs []string) (reproduce.Record, string) {
	repo, _ := filepath.Abs("../..")
	port, accepted := sandboxtest.HostListener(t)
	marker := time.Now().UnixNano() % 1000000
	sub, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFile(t, filepath.Join(sub, "reproduce.sh"), fmt.Sprintf(hostile, repo, port, marker))
	args := append([]string{"reproduce", "--submission", sub, "--out", out,
		"--timeout", "20s", "--memory", "64m", "--max-procs", "64", "--shm", "8m", "--disk", "64m"}, backendArgs...)
	_, err := runCLI(t, args...)
	if err == nil || !strings.Contains(err.Error(), "kept attempt 1: timed out") {
		t.Fatalf("error %v, want the attempt timed out", err)
	}
	log := readString(filepath.Join(out, "reproduce.log"))
	for _, bad := range []string{"SAW-ROOT", "module github.com", "READ-REPO", "WROTE-REPO", "CONNECTED", "HAS-NIC", "HELD-150000000"} {
		if strings.Contains(log, bad) {
			t.Errorf("escape %s:\n%s", bad, log)
		}
	}
	for _, p := range []string{filepath.Join(repo, "pwned"), "/etc/pwned-latent", "/usr/pwned-latent"} {
		if _, err := os.Stat(p); err == nil {
			os.Remove(p)
			t.Errorf("wrote the host's %s", p)
		}
	}
	if accepted.Load() != 0 || !eventually(func() bool { return !hostProcess(fmt.Sprintf("sleep 97%d", marker)) }) {
		t.Errorf("host listener reached %d times, or the background sleep outlived the run", accepted.Load())
	}
	var rec reproduce.Record
	b, _ := os.ReadFile(filepath.Join(out, "reproduction.json"))
	if err := json.Unmarshal(b, &rec); err != nil || len(rec.Attempts) != 1 {
		t.Fatalf("record %s: %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(out, "submission_executed", "made.txt")); err != nil {
		t.Errorf("executed submission: %v", err)
	}
	return rec, log
}

func TestReproduceSuccess(t *testing.T) {
	sub, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFile(t, filepath.Join(sub, "reproduce.sh"), "echo result > result.txt; echo done\n")
	got, err := runCLI(t, "reproduce", "--submission", sub, "--out", out, "--sandbox-dir", t.TempDir(), "--timeout", "1m")
	if err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	for _, want := range []string{"attempt 1: exit 0", "kept attempt 1", "enforced: [network:none"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, f := range []string{"reproduce.log", "reproduction.json", "submission_executed/result.txt", "submission_executed/reproduce.log.creation_time"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestReproduceBadFlags: each bad flag fails with an error naming it, before OUT is made.
func TestReproduceBadFlags(t *testing.T) {
	sub := t.TempDir()
	writeFile(t, filepath.Join(sub, "reproduce.sh"), "true\n")
	file := filepath.Join(sub, "reproduce.sh")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--submission", ""}, "--submission and --out are required"},
		{[]string{"--submission", "/does/not/exist"}, "/does/not/exist"},
		{[]string{"--timeout", "0s"}, "--timeout"},
		{[]string{"--retries", "-1"}, "--retries"},
		{[]string{"--network", "host"}, `--network "host"`},
		{[]string{"--memory", "12q"}, `--memory: size "12q"`},
		{[]string{"--label", "novalue"}, `label "novalue"`},
		{[]string{"--env", "=x"}, `--env: label "=x"`},
		{[]string{"--rootfs", "/does/not/exist"}, "--rootfs /does/not/exist: not a folder"},
		{[]string{"--image", "ubuntu"}, "--image is for the docker and kubernetes backends"},
		{[]string{"--sandbox", "kubernetes"}, "--sandbox kubernetes needs --image"},
		{[]string{"--sandbox", "kubernetes", "--image", "x", "--kubeconfig", "/does/not/kubeconfig"}, "kubeconfig /does/not/kubeconfig"},
		{[]string{"--sandbox", "kubernetes", "--image", "x", "--pod-ops", "0"}, "--pod-ops 0"},
		{[]string{"--sandbox", "docker"}, "--sandbox docker needs --image"},
		{[]string{"--sandbox", "docker", "--rootfs", "/"}, "--rootfs is for the local backend"},
		{[]string{"--gpus", "1"}, "--gpus"},
		{[]string{"--sandbox", "vm"}, `unknown backend "vm"`},
		{[]string{"--max-file", "big"}, "--max-file"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"reproduce", "--submission", sub, "--out", out, "--sandbox-dir", t.TempDir()}
		_, err := runCLI(t, append(args, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: made %s before failing", c.args, out)
		}
	}
	_, err := runCLI(t, "reproduce", "--submission", sub, "--out", file)
	if err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Errorf("--out a file: %v", err)
	}
}

// TestReproduceInterrupted cancels the command (as Ctrl-C does) while reproduce.sh runs with
// a background child: the command fails saying so, and no process or sandbox is left.
func TestReproduceInterrupted(t *testing.T) {
	marker := time.Now().UnixNano() % 1000000
	sub, out, sbDir := t.TempDir(), filepath.Join(t.TempDir(), "out"), t.TempDir()
	writeFile(t, filepath.Join(sub, "reproduce.sh"), fmt.Sprintf("(setsid sleep 98%d &); echo started; sleep 600\n", marker))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for !strings.Contains(readString(filepath.Join(out, "attempts", "1", "reproduce.log")), "started") {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}()
	_, err := runCLIContext(ctx, "reproduce", "--submission", sub, "--out", out, "--sandbox-dir", sbDir)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("error %v, want interrupted", err)
	}
	if es, _ := os.ReadDir(sbDir); len(es) != 0 || !eventually(func() bool { return !hostProcess(fmt.Sprintf("sleep 98%d", marker)) }) {
		t.Fatalf("left behind: %d sandboxes, or the background sleep still alive 10 s on", len(es))
	}
}

func readString(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func TestSandboxCleanup(t *testing.T) {
	dir := t.TempDir()
	p, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"a", "a", "b"} {
		if _, err := p.Create(context.Background(), sandbox.Spec{Labels: sandbox.Labels{"run": run, "stage": "reproduce"}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := runCLI(t, "sandbox", "cleanup", "--sandbox-dir", dir, "--label", "run=a", "--label", "stage=reproduce")
	if err != nil || got != "removed 2 local sandboxes\n" {
		t.Fatalf("%q, %v", got, err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Fatalf("%d sandboxes left, want run b's", len(es))
	}
	if _, err := runCLI(t, "sandbox", "cleanup", "--label", "x"); err == nil || !strings.Contains(err.Error(), `label "x"`) {
		t.Fatalf("bad label: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "512m": 512 << 20, "16GiB": 16 << 30, "2G": 2 << 30, "1.5k": 1536, "10MB": 10 << 20, "0": 0} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "-1", "12q", "nan", "inf", "1e30", "kb"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"16g", "1.5k", "nan", "-0", "1e18", "0x10", " 3 m "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := parseSize(s); err == nil && n < 0 {
			t.Fatalf("%q: negative %d", s, n)
		}
	})
}

// TestDockerCommands: a missing image fails before OUT is made, and cleanup by label removes
// a crashed run's container and nothing else.
func TestDockerCommands(t *testing.T) {
	p := dockertest.Provider(t)
	sub, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFile(t, filepath.Join(sub, "reproduce.sh"), "true\n")
	_, err := runCLI(t, "reproduce", "--submission", sub, "--out", out, "--sandbox", "docker", "--image", "latent-no-such-image:0")
	if err == nil || !strings.Contains(err.Error(), `image "latent-no-such-image:0" not found`) {
		t.Errorf("missing image: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("made %s before failing", out)
	}
	run := fmt.Sprint("crash-", time.Now().UnixNano())
	var kept sandbox.Sandbox
	for _, r := range []string{run, run, run + "-other"} {
		s, err := p.Create(context.Background(), sandbox.Spec{Image: dockertest.Image, Labels: sandbox.Labels{"run": r}})
		if err != nil {
			t.Fatal(err)
		}
		kept = s
	}
	defer kept.Close(context.Background())
	got, err := runCLI(t, "sandbox", "cleanup", "--sandbox", "docker", "--label", "run="+run)
	if err != nil || got != "removed 2 docker sandboxes\n" {
		t.Fatalf("%q, %v", got, err)
	}
	if r, err := kept.Exec(context.Background(), sandbox.ExecRequest{Shell: "echo alive"}); err != nil || string(r.Output) != "alive\n" {
		t.Fatalf("another run's sandbox was touched: %v %q", err, r.Output)
	}
}
