package sandbox

import "errors"

// Backends whose engine cannot kill an exec's process tree (docker exec, Kubernetes
// pods/exec) run each command under a bash wrapper that tags every process it starts with
// LATENT_EXEC=<tag> in the environment; when the command exits, the wrapper kills every process
// carrying its tag, and a timeout runs the same killer in a second exec ([KillCommand]). A
// process that clears its own environment escapes the tag.

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

// TagWrapper returns a bash script that runs prelude, which must set $tag, make sure the
// command's processes carry LATENT_EXEC=$tag and leave the command in "$@"; the script then
// runs the command and, when it exits, kills every process still carrying the tag and exits
// with the command's status.
func TagWrapper(prelude string) string {
	return killTagged + prelude + `
"$@"
rc=$?
kill_tagged "$tag" $$
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
