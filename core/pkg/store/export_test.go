package store

// SetCrashHook lets tests simulate the process dying at a named point.
func (s *Store) SetCrashHook(hook func(stage string)) { s.crashHook = hook }
