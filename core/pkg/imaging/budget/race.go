//go:build race

package budget

// Under the race detector, a child's data segment also holds the shadow
// memory (about three times the heap), and its exit would wait a second
// for threads that do not exist.
const raceShadow = 4

var raceEnv = []string{"GORACE=atexit_sleep_ms=0"}
