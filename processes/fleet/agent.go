package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/activitysync"
	"github.com/sessionkit/sessionkit/processes/httpapi"
	"github.com/sessionkit/sessionkit/sweep"
)

// Defaults of [AgentOptions].
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultPollInterval      = 5 * time.Second
	DefaultClaimBatch        = 16
	// DefaultRemembered is how many executed command IDs an agent keeps
	// for deduplication when AgentOptions.Remember is zero.
	DefaultRemembered = 100_000
	// MaxStartAnswerBytes bounds the body an agent keeps of its
	// Handler's answer to a start (64 KiB; httpapi answers a start with
	// a few hundred bytes): it becomes the command's Result, which the
	// Store keeps and the Gateway sends its client. A longer answer fails
	// the start, and a session it started is forgotten on the host.
	MaxStartAnswerBytes = 64 << 10
)

// StartRemoteAddr is the RemoteAddr of the request an [Agent] serves a
// start command with, through its host's handler. It names no IP
// address, so that an Authorize that trusts a caller by its address
// (loopback, a private network) never trusts a start that came through
// the fleet as a local caller: "127.0.0.1:0", which it was, let every
// client of the gateway pass such a check. The client's address, as the
// gateway saw it, is in X-Forwarded-For (see [Gateway]).
const StartRemoteAddr = "fleet-gateway:0"

// StartPayload is the Payload of a KindStart command: the POST / request
// the Gateway received, which the agent serves through its host's
// httpapi handler, so that the host's Authorize and Start decide exactly
// as for a direct request.
type StartPayload struct {
	// Header holds the request's end-to-end headers (Authorization, ...),
	// with X-Forwarded-For, -Host and -Proto set by the gateway as for a
	// proxied request (the client's own dropped).
	Header http.Header `json:"header,omitempty"`
	// Host is the request's Host, against which the host's handler
	// checks a browser's Origin as it would for a direct request. Empty:
	// none (a request without Origin is not checked).
	Host string `json:"host,omitempty"`
	// Body is the request's body, with "id" set to ClientID.
	Body []byte `json:"body,omitempty"`
	// ClientID and WorkspaceID are the session's ID as its caller knows
	// it and its workspace, for the answer to a start executed before.
	ClientID    string `json:"client_id"`
	WorkspaceID string `json:"workspace_id"`
}

// StartResult is the Result of a KindStart command: the host handler's
// status and JSON body.
type StartResult struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// SignalPayload is the Payload of a KindSignal command.
type SignalPayload struct {
	Signal string `json:"signal"` // "INT", "TERM", "HUP", "KILL", "USR1", "USR2", "QUIT" (on Windows: "INT", "KILL")
}

// AgentOptions configure an [Agent]. Host, Store and Manager are
// required; every other zero field means its default.
type AgentOptions struct {
	// Host is the registry entry: ID, cluster, region, platform,
	// Capacity (seats) and Addr (the base URL of Handler's server).
	Host Host
	// Store is the fleet's Store.
	Store Store
	// Manager holds the host's sessions.
	Manager *processes.Manager
	// Handler serves start commands: the host's httpapi handler (with its
	// Options.Start and Authorize), called in-process with the request
	// the Gateway received: its method, body, end-to-end headers and
	// Host, with RemoteAddr StartRemoteAddr (no address: the client's is
	// in X-Forwarded-For, set by the gateway). Nil: start commands fail.
	// A panic of Handler fails the start (as net/http drops the request
	// of a handler that panics), and so does an answer longer than
	// MaxStartAnswerBytes; an answer that is not JSON is carried as a
	// JSON string.
	Handler http.Handler
	// Prefix is Handler's prefix. Empty means httpapi.DefaultPrefix.
	Prefix string
	// HeartbeatInterval is how often Run beats and reports. Zero means
	// DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// PollInterval is Run's fallback claim poll, for notifications lost
	// while the Store's connection was down. Zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// ClaimBatch is how many commands one claim takes. Zero means
	// DefaultClaimBatch.
	ClaimBatch int
	// Lease is the lease a claim takes. Zero means DefaultLease.
	Lease time.Duration
	// Remember bounds the executed command IDs kept to recognise a
	// command delivered twice. Zero means DefaultRemembered.
	Remember int
	// Bridge, if set, is synced at every heartbeat: the host's sessions'
	// states and activity in the activity Store (package activitysync).
	Bridge *activitysync.Bridge
	// OnExecute, if set, is called once for every command the agent
	// executes, never for one it recognised as executed before; no lock
	// is held. For metrics and tests.
	OnExecute func(Command)
	// Clock gives now and drives the heartbeat and the fallback poll.
	// Nil: the Manager's clock.
	Clock clock.Clock
	// Logger receives errors at Warn. Nil discards.
	Logger *slog.Logger
}

// Agent runs on each host beside its processes.Manager: it registers the
// host, beats, claims the host's commands and executes them against the
// Manager, acknowledging and completing each, and reports the state of
// the host's sessions (and, with a Bridge, their activity). A command ID
// is executed at most once per Agent however often it is delivered (the
// last Remember IDs are kept; a start delivered again for a session the
// Manager holds is not executed again either), and one delivered again
// is completed with its first execution's outcome.
//
// Make one with [NewAgent]; the zero value is not usable. Run blocks,
// one at a time (a second concurrent Run returns ErrRunning); Sync and
// ClaimOnce may be called directly (tests do). It is safe for
// concurrent use.
type Agent struct {
	opts AgentOptions
	clk  clock.Clock
	log  *slog.Logger

	running atomic.Bool // a Run is running

	mu     sync.Mutex
	done   map[string]*outcome // executed IDs; the outcome while its completion is owed
	fifo   []string
	execMu sync.Mutex // one batch executes at a time
}

// NewAgent returns an agent. It returns an error wrapping [ErrInvalid]
// when Host.ID, Store or Manager is missing, or Host.Addr is neither
// empty nor an http or https URL with a host.
func NewAgent(opts AgentOptions) (*Agent, error) {
	if opts.Host.ID == "" || opts.Store == nil || opts.Manager == nil {
		return nil, fmt.Errorf("fleet: NewAgent needs Host.ID, Store and Manager: %w", ErrInvalid)
	}
	if opts.Host.Addr != "" {
		if _, err := hostURL(opts.Host.Addr); err != nil {
			return nil, fmt.Errorf("fleet: NewAgent: Host.Addr: %w: %w", err, ErrInvalid)
		}
	}
	if opts.Prefix == "" {
		opts.Prefix = httpapi.DefaultPrefix
	}
	opts.Prefix = strings.TrimRight(opts.Prefix, "/")
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.ClaimBatch <= 0 {
		opts.ClaimBatch = DefaultClaimBatch
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Remember <= 0 {
		opts.Remember = DefaultRemembered
	}
	a := &Agent{opts: opts, clk: opts.Clock, log: opts.Logger, done: make(map[string]*outcome)}
	if a.clk == nil {
		a.clk = opts.Manager.Clock()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

// Register registers the host (connected) and records a first beat.
func (a *Agent) Register(ctx context.Context) error {
	return a.opts.Store.RegisterHost(ctx, a.opts.Host, a.clk.Now())
}

// Run registers the host, then beats and reports every
// HeartbeatInterval and claims and executes the host's commands whenever
// the Store notifies it (HostTopic), or every PollInterval, until ctx
// ends. It then completes the command it was executing, if any (see
// ClaimOnce), marks the host disconnected and returns ctx.Err(), or the
// error of the registration or subscription that failed.
//
// One Run at a time: Run while another Run of the same Agent runs
// returns ErrRunning at once and changes nothing (a second loop would
// only claim the same host's commands, and the first to end would mark
// the host disconnected under the other). Run after the previous one
// returned runs again. One Agent per host: agents of the same Host.ID in
// other processes are not detected, and are not supported.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return fmt.Errorf("fleet: Run of host %s: %w", a.opts.Host.ID, ErrRunning)
	}
	// Released last, once the host is marked disconnected: a Run that
	// follows registers it connected after that, never before.
	defer a.running.Store(false)
	if err := a.Register(ctx); err != nil {
		return err
	}
	disconnect := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = a.opts.Store.SetConnected(dctx, a.opts.Host.ID, false)
	}
	sub, err := a.opts.Store.Subscribe(ctx, HostTopic(a.opts.Host.ID))
	if err != nil {
		disconnect() // registered, but nobody will claim its commands
		return err
	}
	defer sub.Close()
	sw := sweep.Start(a.clk, a.opts.HeartbeatInterval, func(time.Time) {
		if err := a.Sync(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("fleet: agent sync", "host", a.opts.Host.ID, "err", err)
		}
	})
	defer sw.Stop()
	defer disconnect()
	for {
		n, err := a.ClaimOnce(ctx)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("fleet: agent claim", "host", a.opts.Host.ID, "err", err)
		}
		if n == a.opts.ClaimBatch {
			continue // more may wait
		}
		t := a.clk.Timer(a.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-sub.C():
		case <-t.C:
		}
		t.Stop()
	}
}

// Sync beats (the Manager's session count; a host the Store no longer
// has is registered again first) and reports the host's
// sessions: a pending one the Manager runs becomes running, a running one
// that exited becomes exited, and one the Manager no longer holds (or
// closed) becomes terminated; then the Bridge, if any, syncs. It returns
// the errors joined.
func (a *Agent) Sync(ctx context.Context) error {
	now := a.clk.Now()
	var errs []error
	err := a.opts.Store.Heartbeat(ctx, a.opts.Host.ID, a.opts.Manager.Len(), now)
	if errors.Is(err, ErrNotFound) {
		// Deleted from the Store (pruned after a long silence, or by
		// an operator) while this host lived on: register it again.
		if err = a.opts.Store.RegisterHost(ctx, a.opts.Host, now); err == nil {
			err = a.opts.Store.Heartbeat(ctx, a.opts.Host.ID, a.opts.Manager.Len(), now)
		}
	}
	if err != nil {
		errs = append(errs, err)
	}
	recs, err := a.opts.Store.Sessions(ctx, SessionFilter{HostID: a.opts.Host.ID,
		States: []string{SessionPending, SessionRunning, SessionTerminating, SessionExited}})
	if err != nil {
		errs = append(errs, err)
	}
	for _, rec := range recs {
		s, ok := a.opts.Manager.Get(rec.ID)
		var from []string
		var to, reason string
		switch {
		case !ok || s.Closed():
			if rec.State == SessionPending {
				continue // its start may be in flight; the reconciler watches it
			}
			from, to, reason = []string{rec.State}, SessionTerminated, "fleet: no longer on its host"
			if ok {
				reason = "fleet: closed on its host: " + s.CloseReason().Error()
			}
		default:
			if _, exited := s.ExitStatus(); exited {
				if rec.State == SessionExited {
					continue
				}
				from, to = []string{rec.State}, SessionExited
			} else if rec.State == SessionPending {
				from, to = []string{SessionPending}, SessionRunning
			} else {
				continue
			}
		}
		if _, err := a.opts.Store.TransitionOn(ctx, rec.ID, a.opts.Host.ID, from, to, reason, now); err != nil {
			errs = append(errs, err)
		}
	}
	if a.opts.Bridge != nil {
		if err := a.opts.Bridge.Sync(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ClaimOnce claims up to ClaimBatch of the host's sent commands and
// executes them in order, completing each. Once ctx ends it executes no
// further command of the batch (they stay claimed, and are sent again
// after their lease), but completes the one it executed, waiting up to
// completeGrace for the Store. It returns how many it claimed, and the
// Store's errors joined.
func (a *Agent) ClaimOnce(ctx context.Context) (int, error) {
	a.execMu.Lock()
	defer a.execMu.Unlock()
	cmds, err := a.opts.Store.Claim(ctx, a.opts.Host.ID, a.opts.ClaimBatch, a.clk.Now(), a.opts.Lease)
	if err != nil {
		return 0, err
	}
	var errs []error
	for i := range cmds {
		if ctx.Err() != nil {
			break // the rest stay claimed: sent again after their lease
		}
		if err := a.execute(ctx, &cmds[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return len(cmds), errors.Join(errs...)
}

// completeGrace bounds how long an agent whose context ended waits for
// the Store to record what it executed.
const completeGrace = 5 * time.Second

// finishing returns ctx while it lasts, and once it has ended a context
// detached from it for completeGrace: what the agent executed is still
// recorded and completed as Run stops, or its outcome would be lost.
func finishing(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), completeGrace)
}

// outcome is what executing a command gave, kept while its completion
// is owed.
type outcome struct {
	result  []byte
	errText string
}

// seen reports whether id was executed, with its outcome if its
// completion failed, and marks it executed.
func (a *Agent) seen(id string) (*outcome, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if o, ok := a.done[id]; ok {
		return o, true
	}
	a.done[id] = nil
	a.fifo = append(a.fifo, id)
	if len(a.fifo) > a.opts.Remember {
		delete(a.done, a.fifo[0])
		a.fifo = a.fifo[1:]
	}
	return nil, false
}

// owe keeps (o non-nil) or drops the outcome of an executed id.
func (a *Agent) owe(id string, o *outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.done[id]; ok {
		a.done[id] = o
	}
}

// execute runs one claimed command, at most once per ID, and completes
// it. A command delivered again (a lease ran out while it ran, or its
// completion failed) is completed with the first execution's outcome:
// a start answers again as it did (see startAnswer), anything else as
// the first run ended, failed or completed.
func (a *Agent) execute(ctx context.Context, c *Command) error {
	var result []byte
	var errText string
	if prev, again := a.seen(c.ID); again {
		switch {
		case prev != nil && (prev.errText != "" || c.Kind != KindStart):
			result, errText = prev.result, prev.errText
		case c.Kind == KindStart:
			result, errText = a.startAnswer(c, true)
		default:
			result = c.Result
		}
	} else {
		if a.opts.OnExecute != nil {
			a.opts.OnExecute(c.clone())
		}
		result, errText = a.run(ctx, c)
	}
	cctx, cancel := finishing(ctx)
	defer cancel()
	if err := a.opts.Store.Complete(cctx, c.ID, a.opts.Host.ID, result, errText, a.clk.Now()); err != nil {
		a.owe(c.ID, &outcome{result: result, errText: errText})
		return err
	}
	a.owe(c.ID, nil)
	return nil
}

// run executes c against the Manager and updates its session's record.
func (a *Agent) run(ctx context.Context, c *Command) (result []byte, errText string) {
	m := a.opts.Manager
	now := func() time.Time { return a.clk.Now() }
	switch c.Kind {
	case KindStart:
		return a.startAnswer(c, false)
	case KindTerminate:
		s, ok := m.Get(c.SessionID)
		if !ok {
			return nil, processes.ErrNotFound.Error()
		}
		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := s.Terminate(tctx); err != nil && !errors.Is(err, processes.ErrExited) {
			return nil, err.Error()
		}
		sctx, scancel := finishing(ctx)
		defer scancel()
		_, _ = a.opts.Store.TransitionOn(sctx, c.SessionID, a.opts.Host.ID, []string{SessionPending, SessionRunning, SessionTerminating}, SessionExited, "", now())
		return nil, ""
	case KindForget:
		m.Forget(c.SessionID)
		sctx, scancel := finishing(ctx)
		defer scancel()
		_, _ = a.opts.Store.TransitionOn(sctx, c.SessionID, a.opts.Host.ID, []string{SessionPending, SessionRunning, SessionTerminating, SessionExited}, SessionTerminated, "fleet: forgotten", now())
		return nil, ""
	case KindSignal:
		var p SignalPayload
		if err := json.Unmarshal(c.Payload, &p); err != nil {
			return nil, "fleet: signal payload: " + err.Error()
		}
		sig, ok := signals[strings.TrimPrefix(strings.ToUpper(p.Signal), "SIG")]
		if !ok {
			return nil, "fleet: unknown signal " + p.Signal
		}
		s, ok := m.Get(c.SessionID)
		if !ok {
			return nil, processes.ErrNotFound.Error()
		}
		if err := s.Signal(sig); err != nil {
			return nil, err.Error()
		}
		return nil, ""
	default:
		return nil, "fleet: unknown command kind " + c.Kind
	}
}

// startAnswer serves a start command through the Handler, or answers
// what the first execution did when c is delivered again (again: this
// Agent executed it; Attempts > 1: a predecessor may have) and the
// Manager holds the session. A first delivery always goes to the
// Handler, which answers 409 for an ID the Manager still holds (an
// exited session, or one whose record was marked lost while this host
// lived on), never 201 for a process it did not start.
func (a *Agent) startAnswer(c *Command, again bool) (result []byte, errText string) {
	var p StartPayload
	if err := json.Unmarshal(c.Payload, &p); err != nil {
		return nil, "fleet: start payload: " + err.Error()
	}
	ctx := context.Background()
	if again || c.Attempts > 1 {
		if s, ok := a.opts.Manager.Get(c.SessionID); ok && !s.Closed() {
			if reason, keep := a.keep(ctx, c.SessionID); !keep {
				return nil, reason
			}
			body, _ := json.Marshal(httpapi.Started{ID: p.ClientID, WorkspaceID: p.WorkspaceID})
			res, _ := json.Marshal(StartResult{Status: http.StatusCreated, Body: body})
			return res, ""
		}
		if again {
			return nil, "fleet: start delivered again; its session is gone"
		}
	}
	if a.opts.Handler == nil {
		_, _ = a.opts.Store.TransitionOn(ctx, c.SessionID, a.opts.Host.ID, []string{SessionPending}, SessionFailed, "fleet: host has no handler", a.clk.Now())
		return nil, "fleet: agent has no Handler for starts"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.opts.Prefix+"/", bytes.NewReader(p.Body))
	if err != nil {
		return nil, "fleet: start request: " + err.Error()
	}
	for k, vs := range p.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Host = p.Host
	req.RemoteAddr = StartRemoteAddr
	rec := &recorder{header: make(http.Header)}
	if v := serve(a.opts.Handler, rec, req); v != nil {
		reason := fmt.Sprintf("fleet: the start handler panicked: %v", v)
		a.log.Warn("fleet: start handler panicked", "command", c.ID, "session", c.SessionID, "panic", v)
		_, _ = a.opts.Store.TransitionOn(ctx, c.SessionID, a.opts.Host.ID, []string{SessionPending}, SessionFailed, reason, a.clk.Now())
		return nil, reason
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.tooLong {
		if rec.status == http.StatusCreated {
			a.opts.Manager.Forget(c.SessionID) // started, but its answer is lost
		}
		reason := fmt.Sprintf("fleet: the start handler answered %d with more than %d bytes", rec.status, MaxStartAnswerBytes)
		_, _ = a.opts.Store.TransitionOn(ctx, c.SessionID, a.opts.Host.ID, []string{SessionPending}, SessionFailed, reason, a.clk.Now())
		return nil, reason
	}
	body := bytes.TrimSpace(rec.body.Bytes())
	if len(body) > 0 && !json.Valid(body) {
		body, _ = json.Marshal(string(body)) // carried as a JSON string
	}
	res, _ := json.Marshal(StartResult{Status: rec.status, Body: json.RawMessage(body)})
	if rec.status == http.StatusCreated {
		if reason, keep := a.keep(ctx, c.SessionID); !keep {
			return nil, reason
		}
		return res, ""
	}
	reason := fmt.Sprintf("fleet: start answered %d: %s", rec.status, bytes.TrimSpace(rec.body.Bytes()))
	_, _ = a.opts.Store.TransitionOn(ctx, c.SessionID, a.opts.Host.ID, []string{SessionPending}, SessionFailed, reason, a.clk.Now())
	return res, reason
}

// keep records a session this host started as running, and reports
// whether the fleet still wants it. When its record was given up while
// the start ran (failed by the dispatcher after its last lease or by the
// reconciler, marked lost, or placed again elsewhere, where it is
// another session and keep changes nothing of it), nothing would ever
// reach or stop the process: keep forgets it on the Manager and returns
// false with the reason. A session without a record (a start
// dispatched without a placement) is kept, and so is one whose record
// the Store cannot read now (Sync and the reconciler see to it later).
func (a *Agent) keep(ctx context.Context, sid string) (reason string, keep bool) {
	ok, err := a.opts.Store.TransitionOn(ctx, sid, a.opts.Host.ID, []string{SessionPending}, SessionRunning, "", a.clk.Now())
	if ok || err != nil {
		return "", true
	}
	rec, err := a.opts.Store.Session(ctx, sid)
	if err != nil || rec.HostID == a.opts.Host.ID &&
		(rec.State == SessionRunning || rec.State == SessionTerminating || rec.State == SessionExited) {
		return "", true
	}
	a.opts.Manager.Forget(sid)
	return fmt.Sprintf("fleet: session given up before its start completed (%s on host %s: %s)", rec.State, rec.HostID, rec.Reason), false
}

// serve serves req with h and returns what h panicked with, if it did:
// net/http recovers a handler's panic and drops the connection, and so
// must a start served in-process, where the panic would end the host's
// process with every session on it.
func serve(h http.Handler, w http.ResponseWriter, req *http.Request) (panicked any) {
	defer func() { panicked = recover() }()
	h.ServeHTTP(w, req)
	return nil
}

// recorder is the ResponseWriter of a start served in-process. It keeps
// at most MaxStartAnswerBytes of the body, then fails the writes.
type recorder struct {
	header  http.Header
	status  int
	body    bytes.Buffer
	tooLong bool
}

// errAnswerTooLong is what a start handler's Write returns past
// MaxStartAnswerBytes.
var errAnswerTooLong = errors.New("fleet: start answer longer than MaxStartAnswerBytes")

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.tooLong || r.body.Len()+len(p) > MaxStartAnswerBytes {
		r.tooLong = true
		return 0, errAnswerTooLong
	}
	return r.body.Write(p)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
