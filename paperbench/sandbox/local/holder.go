package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// A persistent sandbox is one long-lived bubblewrap, the holder: a shell waiting on a pipe
// from latent, run as pid 1 of the sandbox (bash reaps the orphans it inherits, and no
// process inside can kill it, kill -9 -1 included), owns the sandbox's user, pid, network,
// IPC and UTS namespaces. Every Exec is a bwrap that joins them (nsenter for network, IPC
// and UTS, bwrap --userns and --pidns for the rest), with the same file system, no
// capabilities and a mount namespace of its own over the same folders (/dev/shm included: a
// tmpfs mounted in the sandbox's folder). So a process one command detaches keeps running,
// sees the same loopback and files, and later commands see it. The holder dies, and the kernel kills everything in its pid namespace,
// when Close kills it or when latent dies (bwrap --die-with-parent, and its pipe closes). If
// it dies otherwise (the kernel's OOM killer), the next Exec starts a new one: the files are
// kept, the processes are not.
//
// Joining namespaces this way needs root (and util-linux nsenter); without it every Exec is
// a fresh sandbox as before and Info says persistence is unenforced.
type holder struct {
	cmd   *exec.Cmd
	stdin *os.File // write end of the shell's stdin; closing it ends the holder
	pid   int      // host pid of the holder shell, the namespaces' init
	pidNS string   // its pid namespace, as /proc/PID/ns/pid reads: "pid:[inode]"
	done  chan struct{}
}

// holderFile records the holder's init in the sandbox folder, for Cleanup after a crash.
const holderFile = "holder.json"

// holderRecord is holder.json: the init's host pid and its pid namespace, so that a reused
// pid is never killed.
type holderRecord struct {
	PID   int    `json:"child-pid"`
	PIDNS uint64 `json:"pid-namespace"`
}

// holderStart bounds the wait for bwrap to report its namespaces.
const holderStart = 30 * time.Second

// startHolder starts the holder bwrap and waits for it to report its init's pid.
func (s *box) startHolder() (*holder, error) {
	infoR, infoW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer infoR.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		infoW.Close()
		return nil, err
	}
	args := append(append(s.freshNamespaces(), "--as-pid-1"), s.fsArgs(s.shmArgs(true))...)
	args = append(args, s.envArgs(nil, "")...)
	args = append(args, "--chdir", "/", "--info-fd", "3", "--", "bash", "-c", "echo ready; read -r _")
	argv := append(append(s.cg.argv(), s.limits()...), append([]string{s.p.Bwrap}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.ExtraFiles = inR, []*os.File{infoW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	ready, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	inR.Close()
	infoW.Close()
	if err != nil {
		inW.Close()
		return nil, fmt.Errorf("sandbox local: start the holder bwrap: %w", err)
	}
	h := &holder{cmd: cmd, stdin: inW, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(h.done)
	}()
	rec, err := readInfo(infoR)
	if err == nil {
		err = awaitReady(ready)
	}
	if err != nil {
		h.stop()
		return nil, fmt.Errorf("sandbox local: the holder bwrap did not start: %v %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	h.pid, h.pidNS = rec.PID, fmt.Sprintf("pid:[%d]", rec.PIDNS)
	if err := writeJSON(s.dir, holderFile, rec); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

// readInfo reads bwrap's --info-fd report, within holderStart.
func readInfo(r *os.File) (holderRecord, error) {
	var rec holderRecord
	r.SetReadDeadline(time.Now().Add(holderStart))
	if err := json.NewDecoder(r).Decode(&rec); err != nil {
		return rec, err
	}
	if rec.PID <= 0 {
		return rec, errors.New("no child-pid in bwrap's info")
	}
	return rec, nil
}

// awaitReady waits for the holder's shell to print "ready": the namespaces are then set up
// (an Exec that joined the user namespace before its uid map was written would fail). The
// shell writes nothing more, so the pipe is closed then.
func awaitReady(r io.ReadCloser) error {
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		r.Close()
		got <- line
	}()
	select {
	case line := <-got:
		if line != "ready\n" {
			return fmt.Errorf("the holder shell printed %q, not ready", line)
		}
		return nil
	case <-time.After(holderStart):
		return errors.New("the holder shell did not start")
	}
}

// alive reports whether the holder still runs.
func (h *holder) alive() bool {
	select {
	case <-h.done:
		return false
	default:
		return true
	}
}

// stop kills the holder and its init (the kernel then kills every process in the pid
// namespace) and waits for them all.
func (h *holder) stop() {
	h.stdin.Close()
	syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
	if h.pid > 0 {
		syscall.Kill(h.pid, syscall.SIGKILL)
		awaitEmpty(h.pidNS)
	}
	<-h.done
}

// emptyWait bounds the wait for a killed sandbox's pid namespace to empty.
const emptyWait = 10 * time.Second

// awaitEmpty waits, within emptyWait, until no process is left in the pid namespace ns (the
// kernel kills them all when its init dies, but not at once).
func awaitEmpty(ns string) {
	for end := time.Now().Add(emptyWait); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		empty := true
		for range inNamespace(ns) {
			empty = false
			break
		}
		if empty {
			return
		}
	}
}

// joinArgs are the prefix and bwrap namespace options of an Exec that joins the holder's
// namespaces, and the namespace files it passes as fds 3 (user) and 4 (pid).
func (h *holder) joinArgs(nsenter string) (prefix, ns []string, files []*os.File, err error) {
	nsDir := filepath.Join("/proc", strconv.Itoa(h.pid), "ns")
	for _, n := range []string{"user", "pid"} {
		f, err := os.Open(filepath.Join(nsDir, n))
		if err != nil {
			closeAll(files)
			return nil, nil, nil, fmt.Errorf("sandbox local: the sandbox's %s namespace: %w", n, err)
		}
		files = append(files, f)
	}
	prefix = []string{nsenter, "--net=" + nsDir + "/net", "--ipc=" + nsDir + "/ipc", "--uts=" + nsDir + "/uts", "--"}
	return prefix, []string{"--userns", "3", "--pidns", "4", "--unshare-cgroup-try"}, files, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// killRecordedHolder kills the holder init that dir's holder.json names, if that pid still
// is the init of the recorded pid namespace (a crashed latent's holder normally died with
// it; this covers one whose parent lives on).
func killRecordedHolder(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, holderFile))
	var rec holderRecord
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.PID <= 0 {
		return
	}
	link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(rec.PID), "ns", "pid"))
	if ns := fmt.Sprintf("pid:[%d]", rec.PIDNS); err == nil && link == ns {
		syscall.Kill(rec.PID, syscall.SIGKILL)
		awaitEmpty(ns)
	}
}
