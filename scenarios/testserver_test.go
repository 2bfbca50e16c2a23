package scenarios

// serveTestServer is replaced once the runner tests land.
func serveTestServer() bool { return false }
