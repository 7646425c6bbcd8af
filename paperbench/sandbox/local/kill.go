package local

import (
	"bytes"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// tagVar is the environment variable every process of one Exec inherits, naming the call.
const tagVar = "LATENT_EXEC"

// killRounds bounds the rounds of killCall (a forking tree is caught by a later round).
const killRounds = 200

// killCall SIGKILLs, in rounds until a round finds none, every process of the pid namespace
// ns ("pid:[inode]", the sandbox's) that holds the call's output pipe (out) open or, when
// tag is set, carries tagVar=tag in its environment. The pipe is matched by inode, so only
// processes the call started (or that were handed its output) match. A process that both
// cleared its environment and let go of the output is out of reach: it was detached on
// purpose, and Close ends it; so is one in a pid namespace nested in the sandbox's (Exec
// stops waiting for its output after drainWait; Close ends it too).
func killCall(ns string, out os.FileInfo, tag string) {
	want := []byte(tagVar + "=" + tag + "\x00")
	for range killRounds {
		found := false
		for pid, dir := range inNamespace(ns) {
			if (tag != "" && hasEnv(dir, want)) || holds(dir, out) {
				syscall.Kill(pid, syscall.SIGKILL)
				found = true
			}
		}
		if !found {
			return
		}
	}
}

// inNamespace yields the pid and /proc folder of every process in the pid namespace ns.
func inNamespace(ns string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			dir := filepath.Join("/proc", e.Name())
			if link, err := os.Readlink(filepath.Join(dir, "ns", "pid")); err == nil && link == ns && !yield(pid, dir) {
				return
			}
		}
	}
}

// releaseGrace is how long the processes still holding a command's output after it exited
// get to let go of it (a child just forked to run "cmd > log 2>&1 &" still holds the output
// until it has made its redirections) before they are killed.
const releaseGrace = 500 * time.Millisecond

// killHolders waits up to releaseGrace for every process of the pid namespace ns to let go
// of the output pipe out, then kills those that still hold it.
func killHolders(ns string, out os.FileInfo) {
	for end := time.Now().Add(releaseGrace); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !anyHolds(ns, out) {
			return
		}
	}
	killCall(ns, out, "")
}

// anyHolds reports whether a process of the pid namespace ns holds the file out open.
func anyHolds(ns string, out os.FileInfo) bool {
	for _, dir := range inNamespace(ns) {
		if holds(dir, out) {
			return true
		}
	}
	return false
}

// hasEnv reports whether the process at dir has the entry want ("K=V\x00") in its environment.
func hasEnv(dir string, want []byte) bool {
	b, err := os.ReadFile(filepath.Join(dir, "environ"))
	return err == nil && (bytes.HasPrefix(b, want) || bytes.Contains(b, append([]byte{0}, want...)))
}

// holds reports whether the process at dir has a file descriptor open on the file out.
func holds(dir string, out os.FileInfo) bool {
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if fi, err := os.Stat(filepath.Join(dir, "fd", fd.Name())); err == nil && os.SameFile(fi, out) {
			return true
		}
	}
	return false
}
