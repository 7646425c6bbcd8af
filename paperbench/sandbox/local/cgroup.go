package local

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/latentlab/latent/paperbench/sandbox"
)

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroups are one sandbox's control groups: a single folder on cgroup v2, one folder per
// controller (memory, pids, cpu) on cgroup v1. Each lies under the cgroup of the process that
// created the sandbox, named after the sandbox. Every Exec's bwrap is moved into all of them
// before it starts (see cgroupArgv), so the limits hold for the whole sandbox, across execs.
type cgroups struct {
	Dirs     []string `json:"dirs"`
	Enforced []string `json:"enforced"`
}

// limit is one cgroup setting: the file to write in the version's folder, and its value.
type limit struct {
	ctrl, file, value, enforced string
}

// cgroupLimits lists the settings a spec asks for, for cgroup v2 (v2 true) or v1.
func cgroupLimits(spec sandbox.Spec, v2 bool) []limit {
	var l []limit
	if spec.MemBytes > 0 {
		m := strconv.FormatInt(spec.MemBytes, 10)
		if v2 {
			l = append(l, limit{"memory", "memory.max", m, "memory:cgroup"}, limit{"memory", "memory.swap.max", "0", ""})
		} else {
			l = append(l, limit{"memory", "memory.limit_in_bytes", m, "memory:cgroup"}, limit{"memory", "memory.memsw.limit_in_bytes", m, ""})
		}
	}
	if spec.MaxProcs > 0 {
		l = append(l, limit{"pids", "pids.max", strconv.Itoa(spec.MaxProcs), "pids:cgroup"})
	}
	if spec.CPUs > 0 {
		q := strconv.Itoa(int(spec.CPUs * 100000))
		if v2 {
			l = append(l, limit{"cpu", "cpu.max", q + " 100000", "cpu:cgroup"})
		} else {
			l = append(l, limit{"cpu", "cpu.cfs_period_us", "100000", ""}, limit{"cpu", "cpu.cfs_quota_us", q, "cpu:cgroup"})
		}
	}
	return l
}

// newCgroups creates the sandbox's control groups and writes the spec's limits. A limit the
// host does not let us set is left out (the caller falls back to rlimits); optional settings
// (swap) may fail silently. It returns an empty value when nothing is asked or nothing works.
func newCgroups(id string, spec sandbox.Spec) cgroups {
	_, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers"))
	v2 := err == nil
	var cg cgroups
	made := map[string]bool{}
	for _, l := range cgroupLimits(spec, v2) {
		dir, err := cgroupDir(l.ctrl, v2, id)
		if err != nil {
			continue
		}
		if !made[dir] {
			if err := os.Mkdir(dir, 0o755); err != nil {
				continue
			}
			made[dir] = true
			cg.Dirs = append(cg.Dirs, dir)
		}
		err = os.WriteFile(filepath.Join(dir, l.file), []byte(l.value), 0o644)
		if err == nil && l.enforced != "" {
			cg.Enforced = append(cg.Enforced, l.enforced)
		}
	}
	return cg
}

// cgroupDir is the folder of the sandbox's cgroup for a controller: under this process's own
// cgroup (read from /proc/self/cgroup) in that controller's hierarchy.
func cgroupDir(ctrl string, v2 bool, id string) (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if v2 && parts[0] == "0" {
			return filepath.Join(cgroupRoot, parts[2], "latent-"+id), nil
		}
		for _, c := range strings.Split(parts[1], ",") {
			if !v2 && c == ctrl {
				return filepath.Join(cgroupRoot, parts[1], parts[2], "latent-"+id), nil
			}
		}
	}
	return "", fmt.Errorf("no %s cgroup", ctrl)
}

// enforces reports whether the cgroups hold the given limit (such as "memory:cgroup").
func (c cgroups) enforces(what string) bool {
	for _, e := range c.Enforced {
		if e == what {
			return true
		}
	}
	return false
}

// argv is the prefix that moves the command into the cgroups before exec-ing it, so nothing
// it forks can start outside them. The shell is the host's and runs before the sandbox exists.
func (c cgroups) argv() []string {
	if len(c.Dirs) == 0 {
		return nil
	}
	a := []string{"/bin/sh", "-c", `while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"`, "sh"}
	for _, d := range c.Dirs {
		a = append(a, filepath.Join(d, "cgroup.procs"))
	}
	return append(a, "--")
}

// remove kills whatever is left in the cgroups and removes them; a folder already gone is fine.
func (c cgroups) remove() error {
	var errs []error
	for _, d := range c.Dirs {
		for try := 0; ; try++ {
			killAll(d)
			err := os.Remove(d)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			if try == 50 {
				errs = append(errs, fmt.Errorf("cgroup %s: %w", d, err))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

func killAll(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
