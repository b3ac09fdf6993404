package fleet

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MemoryStore is a [Store] in memory, for one process: tests, examples,
// and a single server that wants the fleet's API over its own hosts
// (which calls [MemoryStore.Prune] now and then: final commands and
// records are kept until pruned). The
// zero value is not usable; make one with [NewMemoryStore]. It is safe for
// concurrent use: one mutex makes every method atomic.
type MemoryStore struct {
	mu       sync.Mutex
	hosts    map[string]*Host
	sessions map[string]*SessionRecord
	commands map[string]*Command
	order    []string // command IDs, oldest first
	subs     map[Topic]map[*memorySub]struct{}
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		hosts:    make(map[string]*Host),
		sessions: make(map[string]*SessionRecord),
		commands: make(map[string]*Command),
		subs:     make(map[Topic]map[*memorySub]struct{}),
	}
}

// RegisterHost: see [Store].
func (m *MemoryStore) RegisterHost(ctx context.Context, h Host, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if h.ID == "" {
		return fmt.Errorf("fleet: register host: empty ID: %w", ErrInvalid)
	}
	if !storable(h.ID, h.ClusterID, h.ClusterName, h.Region, h.Platform, h.Addr) {
		return fmt.Errorf("fleet: register host %q: %w", h.ID, errBadText)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.hosts[h.ID]
	if ok {
		h.Sessions, h.Seats, h.Beats, h.RegisteredAt = cur.Sessions, cur.Seats, cur.Beats, cur.RegisteredAt
	} else {
		h.Sessions, h.Seats, h.Beats, h.RegisteredAt = 0, 0, 0, now
	}
	h.Connected, h.LastHeartbeat = true, now
	m.hosts[h.ID] = &h
	return nil
}

func (m *MemoryStore) host(id string) (*Host, error) {
	h, ok := m.hosts[id]
	if !ok {
		return nil, fmt.Errorf("fleet: host %q: %w", id, ErrNotFound)
	}
	return h, nil
}

// Heartbeat: see [Store].
func (m *MemoryStore) Heartbeat(ctx context.Context, hostID string, sessions int, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h, err := m.host(hostID)
	if err != nil {
		return err
	}
	h.Sessions, h.LastHeartbeat = sessions, now
	h.Beats++
	return nil
}

// SetConnected: see [Store].
func (m *MemoryStore) SetConnected(ctx context.Context, hostID string, connected bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h, err := m.host(hostID)
	if err != nil {
		return err
	}
	h.Connected = connected
	return nil
}

// Host: see [Store].
func (m *MemoryStore) Host(ctx context.Context, hostID string) (Host, error) {
	if err := ctx.Err(); err != nil {
		return Host{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h, err := m.host(hostID)
	if err != nil {
		return Host{}, err
	}
	return *h, nil
}

// Hosts: see [Store].
func (m *MemoryStore) Hosts(ctx context.Context) ([]Host, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Host, 0, len(m.hosts))
	for _, h := range m.hosts {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(a, b Host) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// lessLoaded orders hosts for placement: lower Seats/Capacity (compared
// exactly, by cross-multiplying), then fewer seats, then the lower ID.
func lessLoaded(a, b *Host) int {
	if c := cmp.Compare(int64(a.Seats)*int64(b.Capacity), int64(b.Seats)*int64(a.Capacity)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Seats, b.Seats); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Place: see [Store].
func (m *MemoryStore) Place(ctx context.Context, p Placement) (Host, error) {
	if err := ctx.Err(); err != nil {
		return Host{}, err
	}
	if p.SessionID == "" {
		return Host{}, fmt.Errorf("fleet: place: empty session ID: %w", ErrInvalid)
	}
	if !storable(p.SessionID, p.WorkspaceID) {
		return Host{}, fmt.Errorf("fleet: place %q: %w", p.SessionID, errBadText)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sessions[p.SessionID]; ok && HoldsSeat(s.State) {
		return Host{}, fmt.Errorf("fleet: place %q: %w", p.SessionID, ErrExists)
	}
	var best *Host
	for _, h := range m.hosts {
		if h.Seats >= h.Capacity || !h.Online(p.Now, p.TTL) || !p.Criteria.Matches(*h) {
			continue
		}
		if best == nil || lessLoaded(h, best) < 0 {
			best = h
		}
	}
	if best == nil {
		return Host{}, fmt.Errorf("fleet: place %q: %w", p.SessionID, ErrNoAgent)
	}
	best.Seats++
	m.sessions[p.SessionID] = &SessionRecord{
		ID: p.SessionID, WorkspaceID: p.WorkspaceID, HostID: best.ID,
		State: SessionPending, CreatedAt: p.Now, UpdatedAt: p.Now,
	}
	return *best, nil
}

// Session: see [Store].
func (m *MemoryStore) Session(ctx context.Context, id string) (SessionRecord, error) {
	if err := ctx.Err(); err != nil {
		return SessionRecord{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return SessionRecord{}, fmt.Errorf("fleet: session %q: %w", id, ErrNotFound)
	}
	return *s, nil
}

// Sessions: see [Store].
func (m *MemoryStore) Sessions(ctx context.Context, f SessionFilter) ([]SessionRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SessionRecord
	for _, s := range m.sessions {
		if (f.HostID == "" || s.HostID == f.HostID) && (len(f.States) == 0 || slices.Contains(f.States, s.State)) {
			out = append(out, *s)
		}
	}
	slices.SortFunc(out, func(a, b SessionRecord) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Transition: see [Store].
func (m *MemoryStore) Transition(ctx context.Context, id string, from []string, to, reason string, now time.Time) (bool, error) {
	return m.TransitionOn(ctx, id, "", from, to, reason, now)
}

// TransitionOn: see [Store]. An empty hostID is any host (Transition).
func (m *MemoryStore) TransitionOn(ctx context.Context, id, hostID string, from []string, to, reason string, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if !storable(to) {
		return false, fmt.Errorf("fleet: transition %q to %q: %w", id, to, errBadText)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return false, fmt.Errorf("fleet: session %q: %w", id, ErrNotFound)
	}
	if len(from) > 0 && !slices.Contains(from, s.State) || hostID != "" && s.HostID != hostID {
		return false, nil
	}
	if h, ok := m.hosts[s.HostID]; ok {
		switch was, is := HoldsSeat(s.State), HoldsSeat(to); {
		case was && !is:
			h.Seats--
		case !was && is:
			h.Seats++
		}
	}
	s.State, s.Reason, s.UpdatedAt = to, reason, now
	return true, nil
}

// Enqueue: see [Store].
func (m *MemoryStore) Enqueue(ctx context.Context, now time.Time, cmds ...*Command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]bool, len(cmds))
	for _, c := range cmds {
		if c == nil || c.ID == "" || c.HostID == "" {
			return fmt.Errorf("fleet: enqueue: a command needs an ID and a HostID: %w", ErrInvalid)
		}
		if !storable(c.ID, c.HostID, c.SessionID, c.Kind) {
			return fmt.Errorf("fleet: enqueue %q: %w", c.ID, errBadText)
		}
		if _, ok := m.commands[c.ID]; ok || seen[c.ID] {
			return fmt.Errorf("fleet: enqueue %q: %w", c.ID, ErrExists)
		}
		seen[c.ID] = true
	}
	for _, c := range cmds {
		st := Command{ID: c.ID, HostID: c.HostID, SessionID: c.SessionID, Kind: c.Kind, Payload: c.Payload,
			State: CommandPending, CreatedAt: now}.clone()
		m.commands[c.ID] = &st
		m.order = append(m.order, c.ID)
	}
	return nil
}

func (m *MemoryStore) command(id string) (*Command, error) {
	c, ok := m.commands[id]
	if !ok {
		return nil, fmt.Errorf("fleet: command %q: %w", id, ErrNotFound)
	}
	return c, nil
}

// Command: see [Store].
func (m *MemoryStore) Command(ctx context.Context, id string) (Command, error) {
	if err := ctx.Err(); err != nil {
		return Command{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.command(id)
	if err != nil {
		return Command{}, err
	}
	return c.clone(), nil
}

// Commands: see [Store].
func (m *MemoryStore) Commands(ctx context.Context, f CommandFilter) ([]Command, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Command
	for _, id := range m.order {
		c := m.commands[id]
		if (f.HostID == "" || c.HostID == f.HostID) && (f.SessionID == "" || c.SessionID == f.SessionID) &&
			(len(f.States) == 0 || slices.Contains(f.States, c.State)) {
			out = append(out, c.clone())
		}
	}
	return out, nil
}

// Send: see [Store].
func (m *MemoryStore) Send(ctx context.Context, id string, now time.Time, lease time.Duration, maxAttempts int) (Command, error) {
	if err := ctx.Err(); err != nil {
		return Command{}, err
	}
	m.mu.Lock()
	c, err := m.command(id)
	if err != nil {
		m.mu.Unlock()
		return Command{}, err
	}
	var notify Topic
	expired := (c.State == CommandSent || c.State == CommandAck) && c.LeaseUntil.Before(now)
	switch {
	case (c.State == CommandPending || expired) && c.Attempts >= maxAttempts:
		c.State, c.Error, c.DoneAt = CommandFailed, fmt.Sprintf("fleet: no completion after %d attempts", c.Attempts), now
		notify = DoneTopic
	case c.State == CommandPending || expired:
		c.State, c.SentAt, c.LeaseUntil = CommandSent, now, now.Add(lease)
		c.Attempts++
		notify = HostTopic(c.HostID)
	case c.State == CommandSent:
		notify = HostTopic(c.HostID)
	}
	out := c.clone()
	m.publishLocked(notify, id)
	m.mu.Unlock()
	return out, nil
}

// Claim: see [Store].
func (m *MemoryStore) Claim(ctx context.Context, hostID string, max int, now time.Time, lease time.Duration) ([]Command, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Command
	for _, id := range m.order {
		if len(out) >= max {
			break
		}
		c := m.commands[id]
		if c.HostID == hostID && c.State == CommandSent {
			// Never shorter than the send's lease: see Store.Claim.
			c.State, c.AckedAt, c.LeaseUntil = CommandAck, later(now, c.SentAt), later(c.LeaseUntil, now.Add(lease))
			out = append(out, c.clone())
		}
	}
	return out, nil
}

// Complete: see [Store].
func (m *MemoryStore) Complete(ctx context.Context, id, hostID string, result []byte, errText string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.command(id)
	if err != nil {
		return err
	}
	if CommandDone(c.State) {
		return nil
	}
	if c.HostID != hostID || c.State != CommandAck {
		return fmt.Errorf("fleet: complete %q (%s, host %q): %w", id, c.State, c.HostID, ErrNotHeld)
	}
	c.State, c.Result, c.Error, c.DoneAt = CommandCompleted, append([]byte(nil), result...), errText, later(now, c.AckedAt)
	if errText != "" {
		c.State = CommandFailed
	}
	m.publishLocked(DoneTopic, id)
	return nil
}

// Recoverable: see [Store].
func (m *MemoryStore) Recoverable(ctx context.Context, now time.Time, limit int) ([]Command, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Command
	for _, id := range m.order {
		if len(out) >= limit {
			break
		}
		c := m.commands[id]
		if c.State == CommandPending || (c.State == CommandSent || c.State == CommandAck) && c.LeaseUntil.Before(now) {
			out = append(out, c.clone())
		}
	}
	return out, nil
}

// Prune deletes the commands that are final (completed or failed) with
// DoneAt before before, and the session records that are final
// (terminated, lost or failed) with UpdatedAt before before, and returns
// how many of each it deleted. It also deletes the hosts whose last
// heartbeat is before before and which no session record (after the
// pruning) points to: hosts that left the fleet. A MemoryStore keeps
// every command, record and host until then, as pgfleet's tables do
// until one deletes them: a server that runs for long calls Prune now
// and then (with a time an hour back, say), so that its memory, and the
// scans of Claim and Recoverable, follow what is open rather than all
// there ever was. A pruned command, record or host is ErrNotFound to
// Command, Session and Host: keep what may still be read (a Gateway
// reads a start's command until its StartTimeout). An Agent whose host
// was pruned registers it again at its next beat.
func (m *MemoryStore) Prune(before time.Time) (commands, sessions int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := m.order[:0]
	for _, id := range m.order {
		c := m.commands[id]
		if CommandDone(c.State) && c.DoneAt.Before(before) {
			delete(m.commands, id)
			commands++
			continue
		}
		kept = append(kept, id)
	}
	clear(m.order[len(kept):])
	m.order = kept
	if len(kept) < cap(kept)/4 {
		m.order = slices.Clone(kept) // give back the array the pruned filled
	}
	used := make(map[string]bool)
	for id, s := range m.sessions {
		if Final(s.State) && s.UpdatedAt.Before(before) {
			delete(m.sessions, id)
			sessions++
			continue
		}
		used[s.HostID] = true
	}
	for id, h := range m.hosts {
		if !used[id] && h.LastHeartbeat.Before(before) {
			delete(m.hosts, id)
		}
	}
	return commands, sessions
}

// memorySub is a Subscription of a MemoryStore.
type memorySub struct {
	m     *MemoryStore
	topic Topic
	ch    chan string
	once  sync.Once
}

func (s *memorySub) C() <-chan string { return s.ch }

func (s *memorySub) Close() error {
	s.once.Do(func() {
		s.m.mu.Lock()
		delete(s.m.subs[s.topic], s)
		if len(s.m.subs[s.topic]) == 0 {
			delete(s.m.subs, s.topic) // a topic per host: hosts come and go
		}
		close(s.ch)
		s.m.mu.Unlock()
	})
	return nil
}

// subBuffer is how many notifications a subscription holds before it
// drops new ones.
const subBuffer = 256

// Subscribe: see [Store]. It starts no goroutine: notifications are
// delivered by the publishing call, without blocking.
func (m *MemoryStore) Subscribe(ctx context.Context, topic Topic) (Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !storable(string(topic)) {
		return nil, fmt.Errorf("fleet: subscribe %q: %w", topic, errBadText)
	}
	s := &memorySub{m: m, topic: topic, ch: make(chan string, subBuffer)}
	m.mu.Lock()
	if m.subs[topic] == nil {
		m.subs[topic] = make(map[*memorySub]struct{})
	}
	m.subs[topic][s] = struct{}{}
	m.mu.Unlock()
	return s, nil
}

// publishLocked delivers payload to the topic's subscribers without
// blocking; "" publishes nothing.
func (m *MemoryStore) publishLocked(topic Topic, payload string) {
	if topic == "" {
		return
	}
	for s := range m.subs[topic] {
		select {
		case s.ch <- payload:
		default: // dropped: the subscriber's fallback poll finds it
		}
	}
}

// errBadText is the ErrInvalid of text a Store cannot hold (see [Store]).
var errBadText = fmt.Errorf("text must be valid UTF-8 without NUL bytes: %w", ErrInvalid)

// storable reports whether every s is text every Store holds: valid
// UTF-8 without NUL bytes, as PostgreSQL's text is.
func storable(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
