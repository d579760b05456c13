//go:build !race

package web_test

// raceEnabled: this test binary was built with -race (so is the clock).
const raceEnabled = false
