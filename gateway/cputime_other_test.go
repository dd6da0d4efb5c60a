//go:build !unix

package gateway

import "time"

// processCPU reports that CPU time is not available on this system.
func processCPU() (time.Duration, bool) { return 0, false }
