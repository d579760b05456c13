//go:build race

package web_test

// raceEnabled: this test binary was built with -race (so are the binaries it builds).
const raceEnabled = true
