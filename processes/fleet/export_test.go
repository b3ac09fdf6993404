package fleet

// Waiters returns how many starts the gateway holds a completion waiter
// for.
func (g *Gateway) Waiters() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiters)
}
