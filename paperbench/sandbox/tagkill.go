package sandbox

import "errors"

// Backends whose engine cannot kill an exec's process tree (docker exec, Kubernetes
// pods/exec) run each command under a bash wrapper that tags every process it starts with
// LATENT_EXEC=<tag> in the environment. When the command exits, the wrapper kills the processes
// still holding its output (a process the command detached with its output redirected, a
// server started with nohup, lives on: the sandbox is persistent); a timeout kills every
// process carrying the tag, detached or not, in a second exec ([KillCommand]). A process that
// clears its own environment escapes the tag.

// killTagged is bash that SIGKILLs every process whose environment holds LATENT_EXEC=$1,
// sparing pid $2, in rounds until a round finds none (a forking tree is caught by a later
// round). Each round kills in ascending pid order, so a parent mostly dies before its
// children and does not live to print "Killed" for them into the output. It uses builtins
// only, so the killer itself forks nothing.
const killTagged = `kill_tagged() {
	local round d p e
	local -a found
	for ((round = 0; round < 200; round++)); do
		found=()
		for d in /proc/[0-9]*; do
			p=${d#/proc/}
			[ "$p" = "$2" ] && continue
			while IFS= read -r -d '' e; do
				if [ "$e" = "LATENT_EXEC=$1" ]; then found[p]=1; break; fi
			done 2>/dev/null < "$d/environ"
		done
		[ ${#found[@]} = 0 ] && return
		kill -9 "${!found[@]}" 2>/dev/null
	done
}
`

// killHolders is bash that waits up to half a second (a child just forked for
// "cmd > log 2>&1 &" holds the output until it has made its redirections) for every process
// but pid $1 to let go of $1's stdout and stderr, then SIGKILLs, in rounds, those that still
// hold them, all of a round in one kill in ascending pid order (the /proc glob sorts as text, 26
// before 9: killing as it scans let a loop's bash outlive its sleep and print "Killed" into the
// output). Only the wait forks (sleep); the rounds use builtins. (No redirection may be
// active around holds: it would change the very fds it compares with.)
const killHolders = `holds() {
	local f
	for f in "$1"/fd/*; do
		[[ $f -ef /proc/$2/fd/1 || $f -ef /proc/$2/fd/2 ]] && return 0
	done
	return 1
}
kill_holders() {
	local round d p
	local -a found
	for ((round = 0; round < 210; round++)); do
		found=()
		for d in /proc/[0-9]*; do
			p=${d#/proc/}
			[ "$p" = "$1" ] && continue
			holds "$d" "$1" && found[p]=1
		done
		[ ${#found[@]} = 0 ] && return
		if [ $round -ge 10 ]; then
			kill -9 "${!found[@]}" 2>/dev/null
		else
			sleep 0.05 2>/dev/null || round=9
		fi
	done
}
`

// TagWrapper returns a bash script that runs prelude, which must make sure the command's
// processes carry LATENT_EXEC=<tag> and leave the command in "$@"; the script then runs the
// command and, when it exits, kills the processes still holding its output and exits with the
// command's status.
func TagWrapper(prelude string) string {
	return killHolders + prelude + `
"$@"
rc=$?
kill_holders $$
exit $rc`
}

// KillCommand is the argv of a second exec that kills every process tagged with tag.
func KillCommand(tag string) []string {
	return []string{"bash", "-c", killTagged + `kill_tagged "$1" $$`, "latent-kill", tag}
}

// Command returns the argv req runs: Argv as given, or bash -c Shell; exactly one of them
// must be set.
func (req ExecRequest) Command() ([]string, error) {
	switch {
	case req.Shell != "" && len(req.Argv) == 0:
		return []string{"bash", "-c", req.Shell}, nil
	case req.Shell == "" && len(req.Argv) > 0:
		return req.Argv, nil
	default:
		return nil, errors.New("sandbox: exactly one of Argv and Shell must be set")
	}
}
