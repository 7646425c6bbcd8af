package sandbox

import (
	"context"
	"strings"
	"time"
)

// gpuQuery asks the computer's nvidia-smi for the names of its GPUs, as the official agents
// do; a computer without nvidia-smi has none.
const gpuQuery = `command -v nvidia-smi > /dev/null || exit 0
nvidia-smi --query-gpu=name --format=csv,noheader`

// ProbeGPUs returns the names of the GPUs that commands in sb see, one per GPU, as the
// nvidia-smi inside it reports them: none where there is no nvidia-smi or it fails (no
// driver, no device). The error is the Exec's: the sandbox could not run the query.
func ProbeGPUs(ctx context.Context, sb Sandbox) ([]string, error) {
	res, err := sb.Exec(ctx, ExecRequest{Shell: gpuQuery, Timeout: time.Minute, OutputLimit: 64 << 10})
	if err != nil || res.ExitCode != 0 || res.TimedOut {
		return nil, err
	}
	var names []string
	for _, l := range strings.Split(string(res.Output), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return names, nil
}
