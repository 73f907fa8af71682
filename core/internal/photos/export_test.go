package photos

// SetReservedHook runs fn while each decode holds its budget reservation.
func (s *Service) SetReservedHook(fn func()) { s.reservedHook = fn }

// SetWaitingHook runs fn when an upload starts waiting for an identical one.
func (s *Service) SetWaitingHook(fn func()) { s.waitingHook = fn }
