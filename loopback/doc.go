// Package loopback guards a server that listens on a loopback address
// against DNS rebinding. A page of another site whose name its DNS server
// points at 127.0.0.1 makes the browser send requests to the loopback
// server that are same-origin as far as the browser knows, so neither
// CORS nor [net/http.CrossOriginProtection] stops them; but each carries
// the site's name in its Host header. [HostGuard] lets through only
// requests addressed to the server by its own loopback names, as
// development servers do (webpack-dev-server's allowedHosts, Vite's
// server.allowedHosts, Jupyter's local_hostnames).
//
// Put it in front of any handler of package processes/httpapi or
// processes/wake served on loopback without credentials: every example
// program of this module does.
//
// # Lifecycle
//
// HostGuard wraps a handler once; the result holds no goroutine and needs
// no closing.
//
// # Concurrency
//
// The handler HostGuard returns is safe for concurrent use if the handler
// it guards is.
//
// # Platform support
//
// Every platform: it reads the Host header only.
//
// # What it does not do
//
// It does not authenticate, and it is no guard for a server reachable
// from other machines or behind a proxy, which rewrites Host: such a
// server checks Host its own way, or requires credentials. It allows the
// names 127.0.0.1, localhost and [::1] with the server's port, not other
// addresses of 127.0.0.0/8 nor names of /etc/hosts.
package loopback
