package fleet

// Waiters returns how many starts the gateway holds a completion waiter
// for.
func (g *Gateway) Waiters() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiters)
}

// Tracked returns how many hosts and sessions the reconciler keeps an
// observation of.
func (r *SessionReconciler) Tracked() (hosts, sessions int) {
	r.pass.Lock()
	defer r.pass.Unlock()
	return len(r.hosts), len(r.since)
}

// Topics returns how many topics the store keeps subscribers of.
func (m *MemoryStore) Topics() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.subs)
}

// Routes returns how many routes the gateway caches.
func (g *Gateway) Routes() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.routes)
}
