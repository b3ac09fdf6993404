package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

// Defaults of [Client].
const (
	// DefaultPollWait is how long each poll of Follow waits on the server
	// when Client.PollWait is not positive.
	DefaultPollWait = 30 * time.Second
	// DefaultMaxBackoff caps Follow's delay between retries when
	// Client.MaxBackoff is not positive.
	DefaultMaxBackoff = 5 * time.Second
)

// maxErrorBody bounds how much of an error response the client reads.
const maxErrorBody = 64 << 10

// Client calls the routes of [NewHandler] over HTTP: one method per route,
// and [Client.Follow], the polling loop of an SDK.
//
// Every method returns an *[APIError] for a response outside 2xx, which
// errors.Is matches against the errors of package processes
// (processes.ErrNotFound for a 404, processes.ErrForgotten for a 410
// "forgotten", and so on) and of this package, the error of the
// http.Client for a failed request, ctx.Err() (wrapped) when ctx ends
// first, and an error naming the base URL for a 2xx answer that is not the
// handler's (a JSON body, or 204 for the routes without one), as from
// another web application at that URL. A session closed before the request
// arrived (deleted, evicted as idle, shut down) is gone from the Manager
// and answers 404, processes.ErrNotFound; only one closed while a request
// waits on it (a long poll) answers the 410 of its reason.
//
// Set the exported fields before the first call; after that a Client is safe
// for concurrent use. Make one with [NewClient]; the zero Client has no base
// URL: each of its calls returns an error matching processes.ErrInvalid.
type Client struct {
	// Header is added to every request, for the credentials that
	// Options.Authorize reads (Authorization, say). Nil adds nothing. It
	// must not change once the Client is in use: for credentials that
	// expire, give NewClient an http.Client whose Transport adds them.
	// An Authorize that refuses answers 401, which Follow returns at once.
	Header http.Header
	// PollWait is how long each poll of Follow asks the server to wait for
	// output. Not positive means DefaultPollWait. The server caps it at its
	// Options.MaxWait, and the Client at half the http.Client's Timeout.
	PollWait time.Duration
	// MaxBackoff caps the delay between Follow's retries after transient
	// errors. Not positive means DefaultMaxBackoff.
	MaxBackoff time.Duration

	base string
	hc   *http.Client
}

// NewClient returns a Client for the handler at baseURL, an http or https
// URL with a host that includes the prefix, as
// "http://127.0.0.1:8080/api/sdk/processes". A baseURL without the prefix
// reaches no route of the handler: the server's mux answers 404, an
// *APIError with no code that matches no sentinel (a missing session is
// the handler's 404 "not_found", which matches processes.ErrNotFound).
// Any other baseURL
// makes every call return an error matching processes.ErrInvalid without a
// request, which Follow does not retry. A nil hc means http.DefaultClient.
//
// hc's Timeout, if any, bounds every request, its body included: a long
// poll (Poll's PollOptions.Wait, Follow's PollWait) waits at most half of
// it on the server, so that its answer comes in time; a Terminate that
// outlasts it, or a Stdin to a process that does not read, fails with the
// http.Client's timeout error.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Started is the answer to [Client.Start]: the new session's ID and its
// workspace.
type Started struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
}

// Start asks the server to start a session (POST /), sending req encoded as
// JSON (nil sends an empty body): what it means is up to the server's
// Options.Start. It returns the session's ID and workspace; a server without
// Options.Start answers an *APIError with Code "start_disabled", and a
// program that cannot be started one matching [ErrStartFailed] (status
// 422).
func (c *Client) Start(ctx context.Context, req any) (Started, error) {
	var body io.Reader
	if req != nil {
		b, err := json.Marshal(req)
		if err != nil {
			return Started{}, fmt.Errorf("httpapi: encoding start request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	var st Started
	err := c.do(ctx, http.MethodPost, "/", nil, body, "application/json", &st)
	return st, err
}

// Output polls the session once (GET {sid}/output) from cursor since: it is
// Poll with Cursor{Seq: since} and PollOptions{Wait: wait}.
func (c *Client) Output(ctx context.Context, sid string, since int, wait time.Duration) (processes.Output, error) {
	return c.Poll(ctx, sid, Cursor{Seq: since}, PollOptions{Wait: wait})
}

// PollOptions are the parameters of one [Client.Poll]. The zero PollOptions
// answers at once, with every chunk separate.
type PollOptions struct {
	// Wait, when positive, makes the server hold the request until output
	// newer than the cursor exists, the process exits, or the wait passes,
	// whichever comes first; the chunks are empty then. The server caps
	// it at its Options.MaxWait, and the Client at half the Timeout of its
	// http.Client (see [NewClient]).
	Wait time.Duration
	// Merge asks for each run of consecutive chunks of one stream as one
	// chunk carrying the Seq of the run's last chunk, so that a child
	// that writes a byte at a time costs a poll one chunk, not thousands.
	Merge bool
}

// Poll polls the session once (GET {sid}/output) from cur: the chunks with
// Seq > cur.Seq, the exit, the missed and lost bytes, the session's
// InvocationID, and More when the server's bound cut the answer short (poll
// again at once from the last chunk's Seq; until then Alive is true and
// Exit nil). The chunks are the caller's, nil when there are none.
//
// With cur.InvocationID set, a session that is another invocation
// returns an *APIError matching [ErrInvocationChanged]. A cur.Seq past
// the session's newest Seq, with or without cur.InvocationID, returns one
// matching [ErrCursorAhead]. Either carries the current invocation in
// APIError.InvocationID: poll from Cursor{InvocationID: it} to read the
// current session from its start. A negative cur.Seq answers 400
// (processes.ErrInvalid).
func (c *Client) Poll(ctx context.Context, sid string, cur Cursor, opts PollOptions) (processes.Output, error) {
	q := url.Values{"since": {strconv.Itoa(cur.Seq)}}
	if wait := c.pollWait(opts.Wait); wait > 0 {
		q.Set("wait", wait.String())
	}
	if opts.Merge {
		q.Set("merge", "1")
	}
	if cur.InvocationID != "" {
		q.Set("invocation", cur.InvocationID)
	}
	var w wireOutput
	if err := c.doSession(ctx, http.MethodGet, sid, "/output", q, nil, "", &w); err != nil {
		return processes.Output{}, err
	}
	return fromWire(w)
}

// pollWait returns how long a poll asks the server to wait: wait, but at
// most half of the http.Client's Timeout, so that the answer arrives
// before the http.Client gives up on it.
func (c *Client) pollWait(wait time.Duration) time.Duration {
	if c.hc != nil && c.hc.Timeout > 0 && wait > c.hc.Timeout/2 {
		return max(c.hc.Timeout/2, time.Millisecond)
	}
	return wait
}

// Stdin writes p to the session's stdin (POST {sid}/stdin), returning once
// the process took all of it. It returns an error matching
// processes.ErrExited once the process exited, processes.ErrStdinClosed
// while it runs with its stdin closed (by CloseStdin, or by the process),
// processes.ErrNoProcess for a session without one, [ErrTooManyWriters] (status 429) when the session
// has the server's limit of stdin requests in progress, an *APIError with
// Code "too_large" (status 413) when p exceeds the server's limit, in which
// case nothing was written, and one with Code "timeout" (status 504) when
// the process took no input for the server's Options.StdinTimeout. Errors
// after part of p was written say how much in their message.
func (c *Client) Stdin(ctx context.Context, sid string, p []byte) error {
	return c.doSession(ctx, http.MethodPost, sid, "/stdin", nil, bytes.NewReader(p), "application/octet-stream", nil)
}

// CloseStdin closes the session's stdin (POST {sid}/stdin?close=1 with an
// empty body), so that the process reads end of file. It returns nil when
// stdin is closed already, by an earlier CloseStdin, by the process or by
// its exit; processes.ErrNoProcess for a session without a process; and,
// as Stdin does, [ErrTooManyWriters] (429) and a "timeout" (504) when
// other stdin requests keep it waiting for its turn.
func (c *Client) CloseStdin(ctx context.Context, sid string) error {
	q := url.Values{"close": {"1"}}
	return c.doSession(ctx, http.MethodPost, sid, "/stdin", q, nil, "", nil)
}

// Signal sends the signal name, such as "INT" or "SIGTERM", to the session's
// process group (POST {sid}/signal). An unknown name returns an error
// matching processes.ErrInvalid (status 400); an exited process,
// processes.ErrExited; a session without a process,
// processes.ErrNoProcess (both status 409).
func (c *Client) Signal(ctx context.Context, sid, name string) error {
	q := url.Values{"name": {name}}
	return c.doSession(ctx, http.MethodPost, sid, "/signal", q, nil, "", nil)
}

// Terminate stops the session's process (POST {sid}/terminate): SIGTERM,
// and SIGKILL after the Manager's kill grace. It returns once the process is
// done, with its exit code (-1 if the server reported none). When ctx ends
// first it returns ctx.Err() (wrapped), and the termination goes on with
// its grace on the server: leaving does not escalate it. An already exited
// process returns its exit code; a session without a process returns an
// error matching processes.ErrNoProcess.
func (c *Client) Terminate(ctx context.Context, sid string) (exit int, err error) {
	var b exitBody
	if err := c.doSession(ctx, http.MethodPost, sid, "/terminate", nil, nil, "", &b); err != nil {
		return -1, err
	}
	if b.Exit == nil {
		return -1, nil
	}
	return *b.Exit, nil
}

// Resize sets the terminal size of the session (POST {sid}/resize). A
// session on pipes returns an error matching processes.ErrNotTerminal, one
// without a process processes.ErrNoProcess, a terminal whose process
// exited processes.ErrExited (all status 409); zero rows or cols, or more
// than [MaxTerminalSize], one matching processes.ErrInvalid (400).
func (c *Client) Resize(ctx context.Context, sid string, rows, cols uint16) error {
	b, _ := json.Marshal(resizeBody{Rows: rows, Cols: cols})
	return c.doSession(ctx, http.MethodPost, sid, "/resize", nil, bytes.NewReader(b), "application/json", nil)
}

// Delete forgets the session (DELETE {sid}), terminating a process that
// still runs. An unknown session returns an error matching
// processes.ErrNotFound.
func (c *Client) Delete(ctx context.Context, sid string) error {
	return c.doSession(ctx, http.MethodDelete, sid, "", nil, nil, "", nil)
}

func sessionPath(sid, route string) string {
	return "/" + url.PathEscape(sid) + route
}

// doSession is do for a route of session sid, refusing without a request
// an ID that no URL names (empty, ".", ".."): a path such as "/." would be
// cleaned into another route. Any other ID is sent, even one that
// CheckClientID would refuse at a start: the embedder may have registered
// it.
func (c *Client) doSession(ctx context.Context, method, sid, route string, q url.Values, body io.Reader, contentType string, out any) error {
	if sid == "" {
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "httpapi: an empty session id"}
	}
	if unaddressable(sid) {
		return CheckClientID(sid)
	}
	return c.do(ctx, method, sessionPath(sid, route), q, body, contentType, out)
}

// do sends one request and decodes a 2xx JSON answer into out (nil: the body
// is discarded) or returns the *APIError of any other status.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string, out any) error {
	if err := checkBaseURL(c.base); err != nil {
		return err
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	for k, vs := range c.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" && body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readAPIError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusNoContent && !strings.HasPrefix(ct, "application/json") {
			// The handler answers these routes 204: a page of another
			// web application at the base URL did nothing.
			return fmt.Errorf("httpapi: the %d answer to %s %s (Content-Type %q) is not the handler's 204: check the Client's base URL %q: %w",
				resp.StatusCode, method, path, ct, c.base, errNotAPI)
		}
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		if errors.As(err, &se) || errors.As(err, &te) {
			// Not an answer cut short: another server answered, and will
			// again.
			return fmt.Errorf("httpapi: the %d answer to %s %s (Content-Type %q) is not the handler's JSON: check the Client's base URL %q: %w",
				resp.StatusCode, method, path, resp.Header.Get("Content-Type"), c.base, errNotAPI)
		}
		return fmt.Errorf("httpapi: decoding the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// errNotAPI is the cause of a 2xx answer that is not the handler's JSON,
// as from another web application at the Client's base URL: retrying
// cannot help.
var errNotAPI = errors.New("not an answer of package httpapi's handler")

// checkBaseURL returns an error matching processes.ErrInvalid, saying what
// is wanted, for a base URL that no request can use.
func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	return fmt.Errorf("httpapi: the Client's base URL %q is not an http or https URL with a host: pass NewClient one such as %q: %w",
		base, "http://127.0.0.1:8080"+DefaultPrefix, processes.ErrInvalid)
}

// readAPIError makes the *APIError of a response outside 2xx.
func readAPIError(resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil && len(b) == 0 {
		return fmt.Errorf("httpapi: reading a %d answer: %w", resp.StatusCode, err)
	}
	var eb errorBody
	if json.Unmarshal(b, &eb) == nil && eb.Code != "" {
		return &APIError{Status: resp.StatusCode, Code: eb.Code, Message: eb.Error, InvocationID: eb.InvocationID}
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}
