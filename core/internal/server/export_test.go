package server

// OnHTTPShutdown runs f once the HTTP server has closed its listener and
// waits for the requests in flight.
func (s *Server) OnHTTPShutdown(f func()) { s.httpServer.RegisterOnShutdown(f) }
