package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/benbjohnson/clock"
)

// DefaultHeartbeatTTL is how old a host's last heartbeat may be for the
// host to count as online, when SelectorOptions.TTL is zero.
const DefaultHeartbeatTTL = 15 * time.Second

// SelectorOptions configure an [AgentSelector]. The zero value uses the
// real clock and DefaultHeartbeatTTL.
type SelectorOptions struct {
	// TTL: a host whose last heartbeat is older, or stamped further
	// ahead of the selector's clock, is offline (see [Host.Online]).
	// Zero or negative means DefaultHeartbeatTTL.
	TTL time.Duration
	// Clock gives now. Nil means the real clock.
	Clock clock.Clock
}

// AgentSelector chooses the host of a new session, as the seed's
// AgentSelector did: online (heartbeat within the TTL) and, if asked,
// connected hosts only, filtered by cluster, region and platform, the
// least loaded (seats held / capacity) chosen, a seat reserved on it
// atomically by the Store so that concurrent placements, in one process
// or many, never overfill a host. Make one with [NewAgentSelector]; the
// zero value is not usable. It is safe for concurrent use.
type AgentSelector struct {
	store Store
	ttl   time.Duration
	clk   clock.Clock
}

// NewAgentSelector returns a selector over store. It panics if store is
// nil.
func NewAgentSelector(store Store, opts SelectorOptions) *AgentSelector {
	if store == nil {
		panic("fleet: NewAgentSelector with a nil Store")
	}
	s := &AgentSelector{store: store, ttl: opts.TTL, clk: opts.Clock}
	if s.ttl <= 0 {
		s.ttl = DefaultHeartbeatTTL
	}
	if s.clk == nil {
		s.clk = clock.New()
	}
	return s
}

// TTL returns the heartbeat TTL the selector uses.
func (s *AgentSelector) TTL() time.Duration { return s.ttl }

// SelectAgent chooses a host for criteria (nil: any) and reserves one of
// its seats for a session whose ID it makes up ("seat-" and 128 random
// bits): the seat is held by a pending session record until the caller
// releases it with [AgentSelector.Release] or a reconciler fails it as
// stuck without a start command. Use [AgentSelector.Place] to reserve the
// seat under the session's own ID, as the Gateway does.
//
// It returns an error wrapping [ErrNoAgent] when no host fits.
func (s *AgentSelector) SelectAgent(ctx context.Context, criteria *SelectionCriteria) (*AgentInfo, error) {
	return s.Place(ctx, criteria, "seat-"+newID(), "")
}

// Place is SelectAgent for the session sessionID of workspaceID: the
// seat is held by that session's record, pending. It returns an error
// wrapping [ErrNoAgent] when no host fits, [ErrExists] when the session
// already holds a seat, [ErrInvalid] for an empty sessionID or text a
// Store cannot hold (see [Store]), and the Store's errors.
func (s *AgentSelector) Place(ctx context.Context, criteria *SelectionCriteria, sessionID, workspaceID string) (*AgentInfo, error) {
	now := s.clk.Now()
	h, err := s.store.Place(ctx, Placement{Criteria: criteria, SessionID: sessionID, WorkspaceID: workspaceID, Now: now, TTL: s.ttl})
	if err != nil {
		return nil, err
	}
	return s.info(h, now), nil
}

// Release frees the seat of a session placed but never started, marking
// its record failed with reason. It reports whether the seat was held
// (the record was pending), and returns an error wrapping [ErrNotFound]
// for an unknown session.
func (s *AgentSelector) Release(ctx context.Context, sessionID, reason string) (bool, error) {
	return s.store.Transition(ctx, sessionID, []string{SessionPending}, SessionFailed, reason, s.clk.Now())
}

// GetAgentInfo returns the host agentID as the selector sees it now, or
// an error wrapping [ErrNotFound].
func (s *AgentSelector) GetAgentInfo(ctx context.Context, agentID string) (*AgentInfo, error) {
	h, err := s.store.Host(ctx, agentID)
	if err != nil {
		return nil, fmt.Errorf("fleet: agent info: %w", err)
	}
	return s.info(h, s.clk.Now()), nil
}

// info describes h at now.
func (s *AgentSelector) info(h Host, now time.Time) *AgentInfo {
	status := "online"
	switch {
	case !h.Online(now, s.ttl):
		status = "offline"
	case !h.Connected:
		status = "disconnected"
	}
	return &AgentInfo{
		AgentID: h.ID, ClusterID: h.ClusterID, ClusterName: h.ClusterName,
		Platform: h.Platform, Region: h.Region, Status: status,
		SessionCount: h.Seats,
		Capacity:     map[string]any{"sessions": h.Capacity, "used": h.Seats, "free": max(h.Capacity-h.Seats, 0)},
		IsConnected:  h.Connected && status == "online",
		Addr:         h.Addr,
	}
}
