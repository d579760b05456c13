//go:build !unix

package main

import "time"

// usage is not measured on this platform: CPU columns read 0.
func usage() (cpu time.Duration, minorFaults int64) { return 0, 0 }
