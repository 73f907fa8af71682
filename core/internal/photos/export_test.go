package photos

// SetReservedHook runs fn while each decode holds its budget reservation.
func (s *Service) SetReservedHook(fn func()) { s.reservedHook = fn }
