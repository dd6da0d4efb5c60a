//go:build !unix

package main

import "time"

// processCPU reports no figure where getrusage does not exist.
func processCPU() (user, sys time.Duration, ok bool) { return 0, 0, false }
