package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// Defaults of [GatewayOptions].
const (
	DefaultStartTimeout  = 30 * time.Second
	DefaultMaxStartBytes = 64 << 10
	DefaultRouteCacheTTL = time.Second
	// DefaultMaxListBytes bounds each host's answer to the GET / that
	// the Gateway's own GET / asks of every online host: 8 MiB.
	DefaultMaxListBytes = 8 << 20
)

// Codes of the Gateway's own error answers, beside those of package
// httpapi.
const (
	CodeNoAgent    = "no_agent"    // 503: no host fits (ErrNoAgent)
	CodeQueueFull  = "queue_full"  // 503: the dispatcher's queue is full
	CodeLost       = "lost"        // 410: the session's host is gone
	CodeTerminated = "terminated"  // 410: the session was force-terminated
	CodeBadGateway = "bad_gateway" // 502: the owning host did not answer
	CodeStopped    = "stopped"     // 503: a start reached a closed gateway (nothing placed) or a stopped dispatcher (its seat released), or the gateway closed while the start waited
)

// GatewayOptions configure a [Gateway]. The zero value serves under
// httpapi.DefaultPrefix, every request as workspace "".
type GatewayOptions struct {
	// Prefix is where the API is served, as httpapi.Options.Prefix; the
	// hosts' handlers must serve under the same. Empty means
	// httpapi.DefaultPrefix.
	Prefix string
	// Authorize is the hosts' httpapi.Options.Authorize: with it, session
	// IDs are scoped (httpapi.ScopedID) as the hosts scope them. The
	// request's headers are passed on to the host, which authorizes
	// again. Nil: every request is workspace "".
	Authorize func(*http.Request) (workspaceID string, err error)
	// Criteria chooses the hosts a POST / may be placed on. Nil: the
	// query parameters cluster, region and platform, with
	// RequireConnected. A nil result is any online host, disconnected
	// ones included (see SelectionCriteria).
	Criteria func(*http.Request) *SelectionCriteria
	// StartTimeout bounds how long POST / waits for the host to start the
	// session; past it the answer is 504 and the reconciler sees to the
	// session (the same request again waits for the same start: see
	// Gateway). Zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// MaxStartBytes bounds the body of POST /. Zero means
	// DefaultMaxStartBytes.
	MaxStartBytes int64
	// MaxListBytes bounds the answer the gateway reads from each online
	// host for GET / (its list of sessions), in bytes. A host whose
	// answer is longer is left out of the merged list, as a host that
	// fails to answer is (logged at Warn). Zero means
	// DefaultMaxListBytes.
	MaxListBytes int64
	// RouteCacheTTL is how long the gateway trusts a session's host
	// without reading the Store again (a failed proxy reads it at once).
	// Zero means DefaultRouteCacheTTL; negative: always read. The cache
	// holds at most 100,000 routes (a few hundred bytes each): past
	// that, the expired ones are dropped, or all when most are fresh.
	RouteCacheTTL time.Duration
	// Transport carries proxied requests. Nil: a clone of
	// http.DefaultTransport with 256 idle connections per host.
	Transport http.RoundTripper
	// CrossOrigin checks POST / before anything is placed, and every
	// other state-changing request before it changes a record or is
	// proxied, as the hosts' handlers check every state-changing route
	// they serve (they see the client's Host, Origin and Sec-Fetch-Site
	// headers through the gateway). Nil means
	// http.NewCrossOriginProtection(); configure the same trusted origins
	// as on the hosts.
	CrossOrigin *http.CrossOriginProtection
	// AllowCrossOrigin turns the gateway's own check off, as
	// httpapi.Options.AllowCrossOrigin does for a host.
	AllowCrossOrigin bool
	// Clock gives now. Nil: the real clock.
	Clock clock.Clock
	// Logger receives proxy errors at Warn. Nil discards.
	Logger *slog.Logger
}

// Gateway is the fleet's front door: an http.Handler serving the whole API
// of package httpapi (see its Routes) for sessions spread over hosts.
// POST / places the session (AgentSelector.Place: a seat on the least
// loaded fitting host) and dispatches a start command to it, then
// answers what the host's handler answered. Every /{sid}/… request is
// proxied to the session's host with httputil.ReverseProxy, which flushes
// event streams as they come and switches protocols for WebSocket
// attachments; GET / merges the lists of every online host. A start is
// idempotent by its ID: the same POST / again (the same ID, workspace
// and body) while the first is on its way (its session pending: the
// first answered 504, or its client left) dispatches nothing and waits
// for that start, answering what it answers, so a client learns the
// outcome by retrying; the host authorized the first, the gateway's
// Authorize the retry. Any other start of an ID whose session holds a
// seat, or is exited, answers 409, as a host would. A session
// whose host is gone answers 410 with code "lost" (or "terminated") and
// the reason; an unknown one 404. The httpapi.Client works against it
// unchanged. The hosts see the client's Host header (X-Forwarded-For,
// -Host and -Proto are set from the client's connection on every
// request, a start included; those the client sends are dropped), so
// their cross-origin checks judge a browser's request as they would a
// direct one.
//
// Behind the gateway, a host's Authorize never sees the client's
// address as RemoteAddr: a proxied request (and GET / of each host)
// comes from the gateway's own address, and a start, which the host's
// Agent serves in-process, has RemoteAddr [StartRemoteAddr], which is no
// IP address. The client's address is X-Forwarded-For, exactly one IP,
// as the gateway saw it. So an Authorize that trusts loopback callers
// must not run on a host whose gateway connects from loopback (it would
// trust every proxied request), and one that decides by address should
// read X-Forwarded-For, trusting it only from a known gateway.
//
// Memory per proxied request, besides net/http's own: a pooled 32 KiB copy
// buffer, whatever the answer's size (a WebSocket attachment is copied
// each way by io.Copy, which splices between TCP connections on Linux,
// else takes 32 KiB each way). Answers, event streams and WebSocket
// attachments pass as they come; the hosts' JSON answers carry their
// length, and a small one goes out in one write. GET /, which the
// gateway answers itself by merging the lists of every online host,
// reads at most MaxListBytes of each host's answer (a longer one leaves
// that host out, as a failing one does) and holds what it read until the
// merged answer is written: at most about three times MaxListBytes per
// online host. The gateway sets no timeout of its own on a host that is
// slow to answer (a long poll legitimately is): a proxied request lasts
// as long as its client waits, and a host that refuses connections
// answers 502, which the Client retries.
//
// Make one with [NewGateway] and Close it; the zero value is not usable.
// It is safe for concurrent use.
type Gateway struct {
	store  Store
	sel    *AgentSelector
	disp   *CommandDispatcher
	opts   GatewayOptions
	prefix string
	clk    clock.Clock
	log    *slog.Logger
	mux    *http.ServeMux
	proxy  *httputil.ReverseProxy
	rt     http.RoundTripper

	sub     Subscription
	wg      sync.WaitGroup
	mu      sync.Mutex
	waiters map[string]*waiter // by command ID
	routes  map[string]route
	closed  bool
}

// bufferPool lends ReverseProxy its copy buffers, 32 KiB each.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// route is a cached session location.
type route struct {
	rec  SessionRecord
	addr *url.URL
	at   time.Time
	// marked is the state a DELETE on its way changed to terminating,
	// for observe to restore if the host refuses it.
	marked string
}

type routeKey struct{}

// NewGateway returns a gateway over store, placing with sel and
// dispatching with d (whose Start the caller runs). It subscribes to
// DoneTopic to learn when starts complete, and returns the Store's error
// if that fails. It panics if store, sel or d is nil.
func NewGateway(ctx context.Context, store Store, sel *AgentSelector, d *CommandDispatcher, opts GatewayOptions) (*Gateway, error) {
	if store == nil || sel == nil || d == nil {
		panic("fleet: NewGateway with a nil Store, AgentSelector or CommandDispatcher")
	}
	g := &Gateway{store: store, sel: sel, disp: d, opts: opts, clk: opts.Clock, log: opts.Logger,
		waiters: make(map[string]*waiter), routes: make(map[string]route)}
	g.prefix = strings.TrimRight(opts.Prefix, "/")
	if opts.Prefix == "" {
		g.prefix = httpapi.DefaultPrefix
	}
	if g.opts.StartTimeout <= 0 {
		g.opts.StartTimeout = DefaultStartTimeout
	}
	if g.opts.MaxStartBytes <= 0 {
		g.opts.MaxStartBytes = DefaultMaxStartBytes
	}
	if g.opts.MaxListBytes <= 0 {
		g.opts.MaxListBytes = DefaultMaxListBytes
	}
	if g.opts.RouteCacheTTL == 0 {
		g.opts.RouteCacheTTL = DefaultRouteCacheTTL
	}
	if g.clk == nil {
		g.clk = clock.New()
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.rt = opts.Transport
	if g.rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 1024, 256
		g.rt = t
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			rt := pr.In.Context().Value(routeKey{}).(route)
			pr.SetURL(rt.addr)
			pr.Out.URL.Path, pr.Out.URL.RawPath = pr.In.URL.Path, pr.In.URL.RawPath
			// The host sees the Host the client asked for, as the
			// gateway does: its cross-origin checks compare a browser's
			// Origin with it, and the browser's origin is the gateway's.
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: g.rt,
		// Event streams (text/event-stream) and answers of unknown
		// length are flushed after each write by ReverseProxy itself,
		// and WebSocket upgrades are copied both ways as they come, so
		// no periodic flush is needed. The hosts' JSON answers, polls
		// included, carry their length and go out in one write.
		FlushInterval:  0,
		BufferPool:     bufferPool{},
		ErrorHandler:   g.proxyError,
		ModifyResponse: g.observe,
	}
	sub, err := store.Subscribe(ctx, DoneTopic)
	if err != nil {
		return nil, err
	}
	g.sub = sub
	g.wg.Go(g.wake)

	if !opts.AllowCrossOrigin && g.opts.CrossOrigin == nil {
		g.opts.CrossOrigin = http.NewCrossOriginProtection()
	}
	g.mux = http.NewServeMux()
	for _, p := range []string{g.prefix + "/{$}", g.prefix} {
		if p == "" {
			continue
		}
		g.mux.HandleFunc("POST "+p, g.serveStart)
		g.mux.HandleFunc("GET "+p, g.serveList)
	}
	g.mux.HandleFunc(g.prefix+"/{sid}", g.serveSessionRoute)
	g.mux.HandleFunc(g.prefix+"/{sid}/{rest...}", g.serveSessionRoute)
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, httpapi.CodeNotFound, "fleet: no such route")
	})
	return g, nil
}

// Close stops the gateway's subscription and waits for its goroutine;
// requests waiting for a start answer 503 (their sessions may still
// start), and later starts answer 503 without placing anything. Proxied
// requests are served on. It is idempotent.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	for id, wt := range g.waiters {
		close(wt.ch)
		delete(g.waiters, id)
	}
	g.mu.Unlock()
	err := g.sub.Close()
	g.wg.Wait()
	if t, ok := g.rt.(*http.Transport); ok && g.opts.Transport == nil {
		t.CloseIdleConnections()
	}
	return err
}

// wake passes DoneTopic notifications to the starts waiting for them.
func (g *Gateway) wake() {
	for id := range g.sub.C() {
		g.mu.Lock()
		if wt, ok := g.waiters[id]; ok {
			close(wt.ch)
			delete(g.waiters, id)
		}
		g.mu.Unlock()
	}
}

// ServeHTTP serves the API.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if sid, rest, ok := g.sessionPath(r); ok {
		g.serveSession(w, r, sid, rest)
		return
	}
	g.mux.ServeHTTP(w, r)
}

// sessionPath splits the path of a request for a session's route,
// {prefix}/{sid}[/{rest...}], as the mux would, without its cost (its
// match allocates a dozen times per request). Paths the mux would treat
// with care (escaped, not clean, CONNECT) report false and go to the
// mux.
func (g *Gateway) sessionPath(r *http.Request) (sid, rest string, ok bool) {
	p := r.URL.Path
	if r.URL.RawPath != "" || r.Method == http.MethodConnect || len(p) <= len(g.prefix)+1 ||
		p[len(g.prefix)] != '/' || p[:len(g.prefix)] != g.prefix ||
		strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
		strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") {
		return "", "", false
	}
	sid, rest, _ = strings.Cut(p[len(g.prefix)+1:], "/")
	return sid, rest, sid != ""
}

func (g *Gateway) serveSessionRoute(w http.ResponseWriter, r *http.Request) {
	g.serveSession(w, r, r.PathValue("sid"), r.PathValue("rest"))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{msg, code})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// scope authorizes r: its workspace and whether IDs are scoped. It
// answers r when it returns false.
func (g *Gateway) scope(w http.ResponseWriter, r *http.Request) (string, bool, bool) {
	if g.opts.Authorize == nil {
		return "", false, true
	}
	ws, err := g.opts.Authorize(r)
	if err != nil {
		if ae := (*httpapi.APIError)(nil); errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 600 {
			writeError(w, ae.Status, ae.Code, ae.Message)
		} else {
			writeError(w, http.StatusUnauthorized, httpapi.CodeUnauthorized, "httpapi: unauthorized")
		}
		return "", false, false
	}
	return ws, true, true
}

func managerID(ws string, scoped bool, id string) string {
	if scoped {
		return httpapi.ScopedID(ws, id)
	}
	return id
}

// hopByHop are the headers meant for one connection (RFC 9110, section
// 7.6.1), as httputil.ReverseProxy drops them, with Content-Length, which
// the body of a start fixes anew.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}

// endToEnd returns the request headers a start command carries to the
// host, and GET / to every host: h without the hop-by-hop headers and
// those its Connection header names.
func endToEnd(h http.Header) http.Header {
	out := h.Clone()
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				out.Del(f)
			}
		}
	}
	for _, k := range hopByHop {
		delete(out, k)
	}
	return out
}

// forwarded returns the headers a request the gateway makes of its own
// carries to a host (a start's, GET / to each host): r's end-to-end
// headers with the forwarding headers set as the proxy sets them
// (httputil.ProxyRequest.SetXForwarded) from r's connection, never as
// the client sent them, so that a host that trusts its gateway's
// X-Forwarded-For sees one address for a start and for every other
// request of the client.
func forwarded(r *http.Request) http.Header {
	h := endToEnd(r.Header)
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		delete(h, k)
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		h.Set("X-Forwarded-For", ip)
	}
	h.Set("X-Forwarded-Host", r.Host)
	if r.TLS == nil {
		h.Set("X-Forwarded-Proto", "http")
	} else {
		h.Set("X-Forwarded-Proto", "https")
	}
	return h
}

func (g *Gateway) criteria(r *http.Request) *SelectionCriteria {
	if g.opts.Criteria != nil {
		return g.opts.Criteria(r)
	}
	q := r.URL.Query()
	return &SelectionCriteria{ClusterID: q.Get("cluster"), Region: q.Get("region"), Platform: q.Get("platform"),
		PreferLowLoad: true, RequireConnected: true}
}

func (g *Gateway) serveStart(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		writeError(w, http.StatusServiceUnavailable, CodeStopped, "fleet: the gateway is closed")
		return
	}
	if !g.opts.AllowCrossOrigin {
		if err := g.opts.CrossOrigin.Check(r); err != nil {
			writeError(w, http.StatusForbidden, httpapi.CodeCrossOrigin, "httpapi: cross-origin request refused")
			return
		}
	}
	ws, scoped, ok := g.scope(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.opts.MaxStartBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, httpapi.CodeBadRequest, "fleet: reading body: "+err.Error())
		return
	}
	if int64(len(body)) > g.opts.MaxStartBytes {
		writeError(w, http.StatusRequestEntityTooLarge, httpapi.CodeTooLarge, "fleet: start body too large")
		return
	}
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &fields); err != nil {
			writeError(w, http.StatusBadRequest, httpapi.CodeBadRequest, "fleet: body is not a JSON object: "+err.Error())
			return
		}
	}
	var clientID string
	if raw, ok := fields["id"]; ok {
		if err := json.Unmarshal(raw, &clientID); err != nil {
			writeError(w, http.StatusBadRequest, httpapi.CodeBadRequest, `fleet: "id" must be a string`)
			return
		}
		if err := httpapi.CheckClientID(clientID); err != nil {
			writeError(w, http.StatusBadRequest, httpapi.CodeBadRequest, err.(*httpapi.APIError).Message)
			return
		}
	}
	if clientID == "" {
		clientID = newID()
		fields["id"], _ = json.Marshal(clientID)
		body, _ = json.Marshal(fields)
	}
	sid := managerID(ws, scoped, clientID)
	ctx := r.Context()
	if rec, err := g.store.Session(ctx, sid); err == nil {
		switch rec.State {
		case SessionExited:
			// Its host holds it until it is deleted or swept, and would
			// answer 409: placing it again would hide it.
			writeError(w, http.StatusConflict, httpapi.CodeExists, "processes: session exists")
			return
		case SessionPending:
			// The same start again (a retry after a 504, or after the
			// client left): it waits for the start on its way and
			// answers what that answers, starting nothing of its own.
			if id, ok := g.startOnItsWay(ctx, rec, body); ok {
				wt := g.waitFor(id)
				defer g.unwait(id, wt)
				g.answerStart(ctx, w, id, wt.ch)
				return
			}
		}
	}
	info, err := g.sel.Place(ctx, g.criteria(r), sid, ws)
	switch {
	case errors.Is(err, ErrNoAgent):
		writeError(w, http.StatusServiceUnavailable, CodeNoAgent, err.Error())
		return
	case errors.Is(err, ErrExists):
		writeError(w, http.StatusConflict, httpapi.CodeExists, "processes: session exists")
		return
	case errors.Is(err, ErrInvalid):
		// An ID or workspace the Store cannot hold (see Store).
		writeError(w, http.StatusBadRequest, httpapi.CodeBadRequest, err.Error())
		return
	case err != nil:
		g.log.Warn("fleet: place", "err", err)
		writeError(w, http.StatusInternalServerError, httpapi.CodeInternal, "fleet: placement failed")
		return
	}
	g.forget(sid) // a route cached for an earlier session of this ID is stale
	payload, _ := json.Marshal(StartPayload{Header: forwarded(r), Host: r.Host, Body: body, ClientID: clientID, WorkspaceID: ws})
	cmd := &Command{HostID: info.AgentID, SessionID: sid, Kind: KindStart, Payload: payload}
	cmd.ID = newID()
	wt := g.waitFor(cmd.ID)
	// Every way out drops the waiter: wake drops it only when the
	// notification comes, and notifications may be lost (await polls).
	defer g.unwait(cmd.ID, wt)
	if err := g.disp.DispatchCommandContext(ctx, cmd); err != nil {
		_, _ = g.sel.Release(context.WithoutCancel(ctx), sid, "fleet: not dispatched: "+err.Error())
		switch {
		case errors.Is(err, ErrQueueFull):
			writeError(w, http.StatusServiceUnavailable, CodeQueueFull, err.Error())
			return
		case errors.Is(err, ErrStopped):
			writeError(w, http.StatusServiceUnavailable, CodeStopped, err.Error())
			return
		}
		g.log.Warn("fleet: dispatch", "err", err)
		writeError(w, http.StatusInternalServerError, httpapi.CodeInternal, "fleet: dispatch failed")
		return
	}
	g.answerStart(ctx, w, cmd.ID, wt.ch)
}

// startOnItsWay returns the start command on its way to the host of a
// pending record whose body is body: the same start again.
func (g *Gateway) startOnItsWay(ctx context.Context, rec SessionRecord, body []byte) (string, bool) {
	// Only those in flight: an ID placed again and again has a start
	// command per placement, and the Store keeps them until deleted.
	cmds, err := g.store.Commands(ctx, CommandFilter{SessionID: rec.ID, States: []string{CommandPending, CommandSent, CommandAck}})
	if err != nil {
		return "", false
	}
	for _, c := range slices.Backward(cmds) {
		if c.Kind != KindStart || c.HostID != rec.HostID || CommandDone(c.State) {
			continue
		}
		var p StartPayload
		if json.Unmarshal(c.Payload, &p) == nil && bytes.Equal(p.Body, body) {
			return c.ID, true
		}
		return "", false // the latest start is another
	}
	return "", false
}

// answerStart waits for start command id and answers what its host
// answered, or why there is no answer.
func (g *Gateway) answerStart(ctx context.Context, w http.ResponseWriter, id string, done <-chan struct{}) {
	c, err := g.await(ctx, id, done)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			// the client left; the reconciler sees to the session
		case errors.Is(err, ErrStopped):
			writeError(w, http.StatusServiceUnavailable, CodeStopped, "fleet: the gateway closed while the start was on its way")
		case errors.Is(err, context.DeadlineExceeded):
			writeError(w, http.StatusGatewayTimeout, httpapi.CodeTimeout, "fleet: the host did not start the session in time")
		default:
			g.log.Warn("fleet: await start", "command", id, "err", err)
			writeError(w, http.StatusInternalServerError, httpapi.CodeInternal, "fleet: reading the start's command failed")
		}
		return
	}
	var res StartResult
	if len(c.Result) == 0 || json.Unmarshal(c.Result, &res) != nil || res.Status == 0 {
		writeError(w, http.StatusBadGateway, CodeBadGateway, "fleet: start failed on host "+c.HostID+": "+c.Error)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(res.Status)
	_, _ = w.Write(append(res.Body, '\n'))
}

// waiter is closed when its command completes, for every start that
// waits for it (n of them).
type waiter struct {
	ch chan struct{}
	n  int
}

// waitFor registers a waiter for command id's completion.
func (g *Gateway) waitFor(id string) *waiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	if wt, ok := g.waiters[id]; ok {
		wt.n++
		return wt
	}
	wt := &waiter{ch: make(chan struct{}), n: 1}
	if g.closed {
		close(wt.ch)
	} else {
		g.waiters[id] = wt
	}
	return wt
}

// unwait drops a waiter of waitFor when its last start is done with it.
func (g *Gateway) unwait(id string, wt *waiter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if wt.n--; wt.n == 0 && g.waiters[id] == wt {
		delete(g.waiters, id)
	}
}

// awaitPoll is the fallback poll of a start waiting for its command, for
// notifications lost on the way.
const awaitPoll = time.Second

// await waits until command id is final, up to StartTimeout.
func (g *Gateway) await(ctx context.Context, id string, done <-chan struct{}) (Command, error) {
	deadline := g.clk.Timer(g.opts.StartTimeout)
	defer deadline.Stop()
	for {
		c, err := g.store.Command(ctx, id)
		if err != nil {
			return Command{}, err
		}
		if CommandDone(c.State) {
			return c, nil
		}
		poll := g.clk.Timer(awaitPoll)
		select {
		case <-ctx.Done():
			poll.Stop()
			return Command{}, ctx.Err()
		case <-deadline.C:
			poll.Stop()
			return Command{}, context.DeadlineExceeded
		case <-done:
			done = nil // read the result; a closed gateway polls on
			g.mu.Lock()
			closed := g.closed
			g.mu.Unlock()
			if closed {
				poll.Stop()
				return Command{}, ErrStopped
			}
		case <-poll.C:
		}
		poll.Stop()
	}
}

// maxRoutes bounds the route cache.
const maxRoutes = 100_000

// lookup returns the route of a session, from the cache when fresh.
func (g *Gateway) lookup(ctx context.Context, sid string, fresh bool) (route, error) {
	now := g.clk.Now()
	if !fresh && g.opts.RouteCacheTTL > 0 {
		g.mu.Lock()
		rt, ok := g.routes[sid]
		g.mu.Unlock()
		if ok && now.Sub(rt.at) < g.opts.RouteCacheTTL {
			return rt, nil
		}
	}
	rec, err := g.store.Session(ctx, sid)
	if err != nil {
		return route{}, err
	}
	h, err := g.store.Host(ctx, rec.HostID)
	if err != nil {
		return route{}, err
	}
	u, err := hostURL(h.Addr)
	if err != nil {
		return route{}, &badAddrError{host: h.ID, err: err}
	}
	rt := route{rec: rec, addr: u, at: now}
	if g.opts.RouteCacheTTL > 0 {
		g.mu.Lock()
		if len(g.routes) >= maxRoutes {
			// Drop the expired routes (of sessions that ended, mostly);
			// if most are fresh, drop them all rather than scan again
			// at the next lookup.
			maps.DeleteFunc(g.routes, func(_ string, r route) bool { return now.Sub(r.at) >= g.opts.RouteCacheTTL })
			if len(g.routes) >= maxRoutes/2 {
				clear(g.routes)
			}
		}
		g.routes[sid] = rt
		g.mu.Unlock()
	}
	return rt, nil
}

// hostURL parses a host's Addr: an absolute http or https URL with a
// host ("http://127.0.0.1:8080"), as the gateway proxies to.
func hostURL(addr string) (*url.URL, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http or https URL with a host", addr)
	}
	return u, nil
}

// badAddrError is a host's Addr that hostURL refused.
type badAddrError struct {
	host string
	err  error
}

func (e *badAddrError) Error() string {
	return fmt.Sprintf("fleet: host %s address: %v", e.host, e.err)
}
func (e *badAddrError) Unwrap() error { return e.err }

func (g *Gateway) forget(sid string) {
	g.mu.Lock()
	delete(g.routes, sid)
	g.mu.Unlock()
}

// gone answers a session whose host is gone, and reports whether it did.
func gone(w http.ResponseWriter, rec SessionRecord) bool {
	switch rec.State {
	case SessionLost:
		writeError(w, http.StatusGone, CodeLost, "fleet: session lost: "+rec.Reason)
		return true
	case SessionTerminated:
		if rec.Reason != "" && strings.Contains(rec.Reason, "is gone") {
			writeError(w, http.StatusGone, CodeTerminated, "fleet: session terminated: "+rec.Reason)
			return true
		}
	}
	return false
}

func (g *Gateway) serveSession(w http.ResponseWriter, r *http.Request, clientSID, rest string) {
	// The hosts refuse a cross-origin request that changes state, but a
	// DELETE marks the record terminating before it is proxied (and the
	// reconciler would finish the job), so the gateway refuses first.
	if !g.opts.AllowCrossOrigin {
		if err := g.opts.CrossOrigin.Check(r); err != nil {
			writeError(w, http.StatusForbidden, httpapi.CodeCrossOrigin, "httpapi: cross-origin request refused")
			return
		}
	}
	ws, scoped, ok := g.scope(w, r)
	if !ok {
		return
	}
	sid := managerID(ws, scoped, clientSID)
	rt, err := g.lookup(r.Context(), sid, false)
	if errors.Is(err, ErrNotFound) || err == nil && (rt.rec.WorkspaceID != ws || rt.rec.State == SessionFailed) {
		writeError(w, http.StatusNotFound, httpapi.CodeNotFound, "processes: session not found")
		return
	}
	if bad := (*badAddrError)(nil); errors.As(err, &bad) {
		// The Store holds a host no request can reach (registered
		// without an Agent, whose NewAgent refuses such an address).
		g.log.Warn("fleet: lookup", "session", sid, "err", err)
		writeError(w, http.StatusBadGateway, CodeBadGateway, "fleet: host "+bad.host+" has no address the gateway can reach")
		return
	}
	if err != nil {
		g.log.Warn("fleet: lookup", "session", sid, "err", err)
		writeError(w, http.StatusInternalServerError, httpapi.CodeInternal, "fleet: lookup failed")
		return
	}
	if gone(w, rt.rec) {
		return
	}
	// Only a DELETE of the session's own route ends it: {sid}/, which
	// splits with an empty rest too, is another route (the host answers
	// 404), and must not mark the record for the reconciler to forget.
	if r.Method == http.MethodDelete && rest == "" && !strings.HasSuffix(r.URL.EscapedPath(), "/") {
		for _, from := range []string{SessionRunning, SessionPending} {
			if ok, _ := g.store.TransitionOn(r.Context(), sid, rt.rec.HostID, []string{from}, SessionTerminating, "", g.clk.Now()); ok {
				rt.marked = from
				break
			}
		}
		g.forget(sid)
	}
	ctx := context.WithValue(r.Context(), routeKey{}, rt)
	g.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// observe records what a proxied answer says about the session (a
// DELETE answered 204 terminated it; one the host refused did not end
// it).
func (g *Gateway) observe(resp *http.Response) error {
	r := resp.Request
	switch rt := r.Context().Value(routeKey{}).(route); {
	case r.Method != http.MethodDelete:
	case resp.StatusCode == http.StatusNoContent:
		_, _ = g.store.TransitionOn(r.Context(), rt.rec.ID, rt.rec.HostID, []string{SessionPending, SessionRunning, SessionTerminating, SessionExited}, SessionTerminated, "", g.clk.Now())
	case rt.marked != "" && resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusNotFound:
		// The host refused to end it (not authorized, say): it runs
		// on, and the mark would make the reconciler forget it. A 404
		// (not on its host) or a failure keeps the mark, for the
		// reconciler to finish.
		_, _ = g.store.TransitionOn(context.WithoutCancel(r.Context()), rt.rec.ID, rt.rec.HostID, []string{SessionTerminating}, rt.marked, "", g.clk.Now())
	}
	return nil
}

// proxyError answers a request its host did not: 410 if the session is
// now known lost, else 502 (which the Client retries).
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	rt := r.Context().Value(routeKey{}).(route)
	g.forget(rt.rec.ID)
	if r.Context().Err() != nil {
		return
	}
	if rec, lerr := g.store.Session(r.Context(), rt.rec.ID); lerr == nil && gone(w, rec) {
		return
	}
	g.log.Warn("fleet: proxy", "session", rt.rec.ID, "host", rt.rec.HostID, "err", err)
	writeError(w, http.StatusBadGateway, CodeBadGateway, "fleet: host "+rt.rec.HostID+" did not answer")
}

// errTooLong is a host's answer longer than the gateway reads.
var errTooLong = errors.New("fleet: the host's answer is too long")

// limitedReader reads at most n bytes of r, then fails with errTooLong
// (io.LimitReader's EOF would pass a truncated answer for a short one).
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLong
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// serveList merges GET / of every online host, each asked with the
// request's headers, reading at most MaxListBytes of each.
func (g *Gateway) serveList(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := g.scope(w, r); !ok {
		return
	}
	hosts, err := g.store.Hosts(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, httpapi.CodeInternal, "fleet: listing hosts failed")
		return
	}
	now := g.clk.Now()
	type part struct {
		sessions []json.RawMessage
		err      error
	}
	parts := make([]part, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		if !h.Online(now, g.sel.TTL()) {
			continue
		}
		wg.Go(func() {
			req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, strings.TrimRight(h.Addr, "/")+g.prefix+"/", nil)
			if err != nil {
				parts[i].err = err
				return
			}
			req.Header = forwarded(r)
			resp, err := g.rt.RoundTrip(req)
			if err != nil {
				parts[i].err = err
				return
			}
			defer resp.Body.Close()
			var body struct {
				Sessions []json.RawMessage `json:"sessions"`
			}
			if resp.StatusCode != http.StatusOK {
				parts[i].err = errors.New("status " + strconv.Itoa(resp.StatusCode))
				return
			}
			lr := &limitedReader{r: resp.Body, n: g.opts.MaxListBytes}
			if err := json.NewDecoder(lr).Decode(&body); err != nil {
				if errors.Is(err, errTooLong) {
					err = fmt.Errorf("%w: more than MaxListBytes (%d)", err, g.opts.MaxListBytes)
				}
				parts[i].err = err
				return
			}
			parts[i].sessions = body.Sessions
		})
	}
	wg.Wait()
	all := []json.RawMessage{}
	for i, p := range parts {
		if p.err != nil {
			g.log.Warn("fleet: list", "host", hosts[i].ID, "err", p.err)
			continue
		}
		all = append(all, p.sessions...)
	}
	b, _ := json.Marshal(struct {
		Sessions []json.RawMessage `json:"sessions"`
	}{all})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(b, '\n'))
}
