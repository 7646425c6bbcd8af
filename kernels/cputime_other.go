//go:build !unix

package kernels

import "time"

// processCPUTime is not available here: 0 (benchmarks then omit their CPU-time figures, the
// kernel-path measurement uses wall time).
func processCPUTime() time.Duration { return 0 }
