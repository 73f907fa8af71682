//go:build !race

package budget

// Only the race detector widens a child (see race.go).
const raceShadow = 1

var raceEnv []string
