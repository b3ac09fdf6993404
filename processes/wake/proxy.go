package wake

import (
	_ "embed"
	"encoding/json"
	"errors"
	"html/template"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// DefaultEventsPath is where the fronts serve the wake events that the
// loading page follows, unless ProxyOptions.EventsPath says otherwise.
const DefaultEventsPath = "/.sessionkit/wake/events"

// ProxyOptions configures [Unit.Handler] and [Group.Handler]. The zero
// value is valid: every request is the user's and may wake the unit, the
// events are served at DefaultEventsPath, and http.DefaultTransport
// carries the requests.
type ProxyOptions struct {
	// IsUserRequest tells the user's requests, which wake the unit and
	// count as activity, from the others (health checks, monitoring,
	// prefetches), which do neither: they are proxied, held for their
	// duration but not counted, while the unit is ready, and answered 503
	// otherwise. Nil means every request is the user's.
	IsUserRequest func(*http.Request) bool
	// StartPath, when set, is the only path that wakes the unit, as
	// godoxy's start_endpoint: a request for StartPath or below it
	// (StartPath + "/...", compared once cleaned of "." and ".."
	// elements, so "/start/../x" is not below "/start") wakes it; a
	// request for any other path is proxied (and counted) while the unit
	// is ready, and answered 503 otherwise, without waking it or
	// counting.
	StartPath string
	// EventsPath is the path of the event stream that the loading page
	// follows (Server-Sent Events); it is served by the front, never
	// proxied. It is read as StartPath is, cleaned and rooted ("events"
	// is "/events"). Empty means DefaultEventsPath.
	EventsPath string
	// EventDetails puts each event's Message (the command line and pid of
	// a start, the upstream address a probe tries, an error's text) in
	// the event stream and on the loading page, and the text of the
	// error (the exit status and last output of a program that failed
	// to start, the upstream's address) in the JSON errors. The front
	// answers whoever reaches it, so by default the stream carries the
	// kind, time and attempt of each event only, and a JSON error its
	// code, the unit's ID and what went wrong in a few words; set it
	// where the visitors may see how the unit runs (a dev proxy on
	// loopback, an internal tool). The details are logged either way:
	// a wake's error by the group's logger (WithLogger), the upstream's
	// to ErrorLog.
	EventDetails bool
	// Transport carries the proxied requests; nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
	// FlushInterval is httputil.ReverseProxy's: zero flushes as that
	// does (event streams at once), negative after every write.
	FlushInterval time.Duration
	// ErrorLog receives the proxy's errors (an upstream that refused the
	// connection or broke off its answer, not a client that left), as
	// httputil.ReverseProxy's own error handler logs them; nil means the
	// log package's standard logger, as there.
	ErrorLog *log.Logger
}

// eventsPath returns EventsPath cleaned and rooted, as request paths
// are: a relative one was never a request's path, and the loading page
// asked for it relative to its own.
func (o ProxyOptions) eventsPath() string {
	if o.EventsPath == "" {
		return DefaultEventsPath
	}
	return path.Clean("/" + o.EventsPath)
}

// mayWake reports whether a request for p may wake the unit. Both paths
// are compared cleaned (path.Clean), so that "/start/../other" is
// "/other", as the upstream will read it.
func (o ProxyOptions) mayWake(p string) bool {
	if o.StartPath == "" {
		return true
	}
	sp := strings.TrimSuffix(path.Clean("/"+o.StartPath), "/")
	p = path.Clean("/" + p)
	return p == sp || strings.HasPrefix(p, sp+"/")
}

//go:embed loading.html
var loadingHTML string

var loadingPage = template.Must(template.New("loading").Parse(loadingHTML))

// front is the http.Handler of one unit.
type front struct {
	u     *Unit
	opts  ProxyOptions
	proxy *httputil.ReverseProxy // nil without an Upstream
}

// Handler returns an http.Handler, built on httputil.ReverseProxy, that
// proxies requests to the unit's Upstream when it is ready and wakes it
// when it is not. While it wakes, a browser asking for a page (a GET or
// HEAD accepting text/html) gets a small loading page at once (503, with
// Retry-After), which follows the wake events over Server-Sent Events at
// EventsPath (under the prefix that an http.StripPrefix in front of the
// handler removed) and reloads itself when the unit is ready, or two
// seconds after the event stream was refused (a waiting page as Sablier's
// "dynamic" strategy and godoxy's idlewatcher show); every other request
// waits for the wake and is then proxied, or answered 504 with a JSON
// error when the wake timed out, 502 when it failed, 503 after the
// group's Shutdown. Every user request holds the unit for its whole
// duration, so a long download, an event stream or a WebSocket keeps it
// awake, and counts as activity when it begins and ends. An upgraded
// connection one of whose directions has ended (a half-close, passed on)
// is closed once the other has carried nothing for the unit's
// [Spec].HalfCloseTimeout. See [ProxyOptions] for the requests that are
// not the user's and StartPath.
//
// The proxied request keeps the client's Host header and gets
// X-Forwarded-For, -Host and -Proto (httputil.ProxyRequest.SetXForwarded).
// JSON errors are {"error": "...", "code": "..."} with the codes
// "wake_timeout", "wake_failed", "asleep", "closed", "no_upstream" and
// "upstream"; the error's text names the unit and, only with
// [ProxyOptions].EventDetails, says what failed how. The handler is safe
// for concurrent use; it holds no goroutine of its own.
func (u *Unit) Handler(opts ProxyOptions) http.Handler {
	f := &front{u: u, opts: opts}
	if u.spec.Upstream != "" {
		target := &url.URL{Scheme: "http", Host: u.spec.Upstream}
		f.proxy = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.Host = r.In.Host
				r.SetXForwarded()
			},
			Transport:     opts.Transport,
			FlushInterval: opts.FlushInterval,
			ErrorLog:      opts.ErrorLog,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if r.Context().Err() != nil {
					return // the client left
				}
				msg := "wake: upstream of " + u.spec.ID + ": " + err.Error()
				if opts.ErrorLog != nil {
					opts.ErrorLog.Print(msg)
				} else {
					log.Print(msg)
				}
				f.writeError(w, http.StatusBadGateway, "upstream", "wake: upstream of "+u.spec.ID+" did not answer", msg)
			},
		}
	}
	return f
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u := f.u
	if r.URL.Path == f.opts.eventsPath() {
		serveEvents(w, r, u, f.opts.EventDetails)
		return
	}
	if f.proxy == nil {
		writeError(w, http.StatusBadGateway, "no_upstream", "wake: unit "+u.spec.ID+" has no Upstream")
		return
	}
	if u.g.closed.Load() {
		// For browsers too: a loading page would replay the last
		// attempt's events and reload for ever.
		writeError(w, http.StatusServiceUnavailable, "closed", "wake: unit "+u.spec.ID+": "+ErrClosed.Error())
		return
	}
	user := f.opts.IsUserRequest == nil || f.opts.IsUserRequest(r)
	if !user || !f.opts.mayWake(r.URL.Path) {
		// Served only by a unit that is ready; counted if the user's.
		release, ok := u.holdIfReady(user)
		if !ok {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "asleep", "wake: unit "+u.spec.ID+" is "+u.State().String())
			return
		}
		defer release()
		f.serveProxy(w, r)
		return
	}
	release := u.Hold()
	defer release()
	if !u.awake() {
		cause := r.Method + " " + r.URL.RequestURI() + " from " + r.RemoteAddr
		// Not for a ready unit whose dependency is waking again: its
		// events are over, and the page would reload at once.
		if wantsPage(r) && u.State() != Ready {
			u.wakeAsync(cause)
			servePage(w, r, u, f.opts.eventsPath())
			return
		}
		if err := u.wake(r.Context(), cause, WhenReady); err != nil {
			switch {
			case r.Context().Err() != nil:
				// The client left; nobody reads an answer.
			case errors.Is(err, ErrWakeTimeout):
				f.writeError(w, http.StatusGatewayTimeout, "wake_timeout", "wake: unit "+u.spec.ID+": wake timed out", err.Error())
			case errors.Is(err, ErrClosed):
				writeError(w, http.StatusServiceUnavailable, "closed", "wake: unit "+u.spec.ID+": "+ErrClosed.Error())
			default:
				f.writeError(w, http.StatusBadGateway, "wake_failed", "wake: unit "+u.spec.ID+" failed to wake", err.Error())
			}
			return
		}
	}
	f.serveProxy(w, r)
}

// serveProxy proxies r; an upgraded connection is bounded once half
// closed (Spec.HalfCloseTimeout).
func (f *front) serveProxy(w http.ResponseWriter, r *http.Request) {
	if isUpgrade(r) {
		f.serveUpgrade(w, r)
		return
	}
	f.proxy.ServeHTTP(w, r)
}

// wantsPage reports whether r is a browser asking for a page.
func wantsPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}

func servePage(w http.ResponseWriter, r *http.Request, u *Unit, events string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.Method == http.MethodHead {
		return
	}
	events = mountPrefix(r) + events + "?unit=" + url.QueryEscape(u.spec.ID)
	_ = loadingPage.Execute(w, struct{ Unit, Events string }{u.spec.ID, events})
}

// mountPrefix returns the path prefix that a handler in front of this one
// removed (http.StripPrefix): the part of the request's original path
// (RequestURI) before r.URL.Path, so that the loading page asks for the
// event stream where this front serves it. It returns "" where the two
// do not line up that way, and for a prefix that a browser would read as
// a host ("//...").
func mountPrefix(r *http.Request) string {
	orig, err := url.ParseRequestURI(r.RequestURI)
	if err != nil || !strings.HasSuffix(orig.Path, r.URL.Path) {
		return ""
	}
	prefix := strings.TrimSuffix(orig.Path, r.URL.Path)
	if !strings.HasPrefix(prefix, "/") || strings.HasPrefix(prefix, "//") {
		return ""
	}
	return (&url.URL{Path: prefix}).EscapedPath()
}

// serveEvents streams the unit's events as Server-Sent Events, one JSON
// [Event] per message: the current attempt's history, then live ones,
// until ready, error or asleep (the loading page then reloads), the
// client leaves, or the group shuts down (after Shutdown the stream is
// empty). While the unit is being put to sleep, the attempt going to
// sleep is skipped but for its end, asleep: its history ends in ready,
// which would reload the page into a unit not awake, again and again
// until the sleep ends; the page reloads once, when it ends (which wakes
// the unit, if the request that showed the page has not). It neither
// wakes nor holds the unit. Unless details is set, each event's Message
// is left out (ProxyOptions.EventDetails).
func serveEvents(w http.ResponseWriter, r *http.Request, u *Unit, details bool) {
	sub, stale := u.subscribeAfterSleep()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil || u.g.closed.Load() {
		return // after Shutdown, no history to replay: nothing will wake
	}
	for {
		e, err := sub.Next(r.Context())
		if err != nil {
			return
		}
		if stale != 0 && e.Attempt == stale && e.Kind != EventAsleep {
			continue
		}
		if !details {
			e.Message = ""
		}
		b, _ := json.Marshal(e)
		if _, err := w.Write([]byte("data: " + string(b) + "\n\n")); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		switch e.Kind {
		case EventReady, EventError, EventAsleep:
			return
		}
	}
}

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// writeError writes a JSON error whose text is brief, or detail with
// ProxyOptions.EventDetails.
func (f *front) writeError(w http.ResponseWriter, status int, code, brief, detail string) {
	if f.opts.EventDetails {
		brief = detail
	}
	writeError(w, status, code, brief)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: msg, Code: code})
}

// Handler returns an http.Handler that serves several units: route names
// the unit of each request (by Host, by path prefix, ...), and the
// request is served as that unit's [Unit.Handler] with opts would. A
// request that route maps to no unit of the group is answered 404 with
// a JSON error (code "not_found"). The event stream of the loading page
// is served at opts.EventsPath for every unit, which its "unit" query
// parameter names, whatever route says. It panics if route is nil.
func (g *Group) Handler(route func(*http.Request) string, opts ProxyOptions) http.Handler {
	if route == nil {
		panic("wake: nil route for Group.Handler")
	}
	gf := &groupFront{g: g, route: route, opts: opts}
	return gf
}

type groupFront struct {
	g     *Group
	route func(*http.Request) string
	opts  ProxyOptions
	mu    sync.Mutex
	fs    map[*Unit]http.Handler
}

func (gf *groupFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := ""
	if r.URL.Path == gf.opts.eventsPath() {
		id = r.URL.Query().Get("unit")
	} else {
		id = gf.route(r)
	}
	u, ok := gf.g.Unit(id)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "wake: no unit "+id)
		return
	}
	gf.mu.Lock()
	if gf.fs == nil {
		gf.fs = map[*Unit]http.Handler{}
	}
	h := gf.fs[u]
	if h == nil {
		h = u.Handler(gf.opts)
		gf.fs[u] = h
	}
	gf.mu.Unlock()
	h.ServeHTTP(w, r)
}
