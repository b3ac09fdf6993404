package processes

import (
	"fmt"
	"time"
)

// reserve counts one more session for workspace ws if the limits allow it,
// reclaiming the slot of the session that exited first where they do not.
func (m *Manager) reserve(ws string) error {
	for {
		m.countMu.Lock()
		overAll := m.maxSessions > 0 && m.total >= m.maxSessions
		overWS := m.maxPerWS > 0 && m.perWS[ws] >= m.maxPerWS
		if !overAll && !overWS {
			m.countLocked(ws, 1)
			m.countMu.Unlock()
			return nil
		}
		m.countMu.Unlock()
		victim := m.oldestExited(ws, overWS && !overAll)
		if victim == nil {
			return fmt.Errorf("%w: limit reached for workspace %q", ErrTooManySessions, ws)
		}
		if m.remove(victim) {
			m.retire(victim, ErrReclaimed)
		}
	}
}

// oldestExited returns the session that exited first, of workspace ws only
// if inWS, or nil if none exited.
func (m *Manager) oldestExited(ws string, inWS bool) *Session {
	var best *Session
	var bestAt time.Time
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for _, s := range sh.sessions {
			if inWS && s.WorkspaceID != ws {
				continue
			}
			s.mu.Lock()
			if s.exited && (best == nil || s.exit.At.Before(bestAt)) {
				best, bestAt = s, s.exit.At
			}
			s.mu.Unlock()
		}
		sh.mu.RUnlock()
	}
	return best
}

// count adds d to the session counts of workspace ws.
func (m *Manager) count(ws string, d int) {
	m.countMu.Lock()
	defer m.countMu.Unlock()
	m.countLocked(ws, d)
}

// countLocked is count with m.countMu held.
func (m *Manager) countLocked(ws string, d int) {
	m.total += d
	if m.perWS == nil {
		m.perWS = make(map[string]int)
	}
	if m.perWS[ws] += d; m.perWS[ws] <= 0 {
		delete(m.perWS, ws)
	}
}
