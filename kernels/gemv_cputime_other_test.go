//go:build !unix

package kernels

import "time"

// processCPUTime is not available here; benchmarks then omit their CPU-time figures.
func processCPUTime() time.Duration { return 0 }
