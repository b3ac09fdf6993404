package wake

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/sessionkit/sessionkit/processes"
)

type probeKind uint8

const (
	probeDefault probeKind = iota
	probeTCP
	probeHTTP
	probeOutput
	probeFunc
	probeNone
)

// Probe tells when a freshly started program is ready to serve. Make one
// with [TCPProbe], [HTTPProbe], [OutputProbe], [FuncProbe] or
// [StartedProbe]. The zero Probe is the default: a TCP probe of the unit's
// Upstream, or ready once started where there is no Upstream.
//
// A probe runs after each cold start, until it succeeds, the process
// exits ([ErrExitedBeforeReady], with its exit status and the end of its
// output) or the WakeTimeout ends. A probe that passes when the process
// has exited meanwhile passed against something else, and the wake fails
// with ErrExitedBeforeReady all the same. Since a TCP or HTTP probe
// cannot tell who answers, a cold start first checks that nothing
// accepts connections at the probe's address (nor at the unit's
// Upstream), and fails with [ErrAddrInUse] if something does. A unit
// woken from freeze or pause is not probed again: its process was ready
// when it slept. Polling probes try at once, then after 1 ms, 2 ms, 4 ms
// and so on up to Spec.ProbeInterval, then every ProbeInterval, each try
// bounded by two seconds; the output probe waits for output without
// polling. A Probe is a value,
// safe to share.
type Probe struct {
	kind probeKind
	addr string                                                // TCP
	url  string                                                // HTTP
	re   *regexp.Regexp                                        // output
	fn   func(ctx context.Context, s *processes.Session) error // func
}

// TCPProbe is ready once a TCP connection to addr (host:port, with a
// port number, as Spec.Upstream) succeeds; an empty addr means the
// unit's Upstream. [Group.Add] refuses another addr with ErrInvalidSpec.
func TCPProbe(addr string) Probe { return Probe{kind: probeTCP, addr: addr} }

// HTTPProbe is ready once a GET of url answers with a 2xx or 3xx status
// (redirects are not followed), as Kubernetes' httpGet probe counts; an
// https server's certificate is not verified, as there. A url
// that starts with "/" is a path on the unit's Upstream
// ("/healthz" → http://<Upstream>/healthz); empty means "/". Any other
// url must be an http or https URL with a host, or [Group.Add] refuses
// it with ErrInvalidSpec.
func HTTPProbe(url string) Probe { return Probe{kind: probeHTTP, url: url} }

// OutputProbe is ready once re matches the output of the current
// incarnation of the unit's process, stdout and stderr each read as one
// text (a match may span any number of chunks, never the two streams),
// as soon as it is printed: it waits with [processes.Session.WaitOutput],
// and never polls. Only the last 64 KiB of each stream are searched; a
// match that spans more is not found. A nil re panics.
func OutputProbe(re *regexp.Regexp) Probe {
	if re == nil {
		panic("wake: nil regexp for OutputProbe")
	}
	return Probe{kind: probeOutput, re: re}
}

// FuncProbe is ready once fn returns nil; an error means not yet, and fn
// is called again after the next wait (see [Probe]). fn gets the session
// of the current incarnation and a context that ends with the wake or
// two seconds after the call, whichever comes first, as every try of a
// polling probe: an fn that waits longer for readiness is cut short and
// called again. A nil fn panics.
func FuncProbe(fn func(ctx context.Context, s *processes.Session) error) Probe {
	if fn == nil {
		panic("wake: nil func for FuncProbe")
	}
	return Probe{kind: probeFunc, fn: fn}
}

// StartedProbe is ready as soon as the process started.
func StartedProbe() Probe { return Probe{kind: probeNone} }

// String describes the probe, for events.
func (p Probe) String() string {
	switch p.kind {
	case probeTCP:
		if p.addr == "" {
			return "tcp connect to the upstream"
		}
		return "tcp connect to " + p.addr
	case probeHTTP:
		return "http GET " + p.url
	case probeOutput:
		return "output matching " + p.re.String()
	case probeFunc:
		return "func"
	case probeNone:
		return "started"
	}
	return "default"
}

// validate says why the probe could never pass, whatever the program
// does: an address or URL that no dial or request can reach.
func (p Probe) validate() error {
	switch {
	case p.kind == probeTCP && p.addr != "":
		if err := checkHostPort(p.addr); err != nil {
			return fmt.Errorf("TCP probe address: %v", err)
		}
	case p.kind == probeHTTP && p.url != "" && p.url[0] != '/':
		u, err := url.Parse(p.url)
		switch {
		case err != nil:
			return fmt.Errorf("HTTP probe URL: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("HTTP probe URL %q is neither a path (\"/healthz\") nor an http or https URL", p.url)
		case u.Hostname() == "":
			return fmt.Errorf("HTTP probe URL %q has no host", p.url)
		case u.Port() != "":
			if err := checkHostPort(u.Host); err != nil {
				return fmt.Errorf("HTTP probe URL: %v", err)
			}
		}
	}
	return nil
}

// resolve returns the probe a unit runs: the default made concrete, paths
// and empty addresses resolved against upstream.
func (p Probe) resolve(upstream string) Probe {
	switch p.kind {
	case probeDefault:
		if upstream == "" {
			return Probe{kind: probeNone}
		}
		return Probe{kind: probeTCP, addr: upstream}
	case probeTCP:
		if p.addr == "" {
			p.addr = upstream
		}
	case probeHTTP:
		if p.url == "" {
			p.url = "/"
		}
		if p.url[0] == '/' {
			p.url = "http://" + upstream + p.url
		}
	}
	return p
}

// probeClient is the HTTP probes' client: no keep-alive, so that no idle
// connection (and its goroutines) outlives a probe, no redirect followed,
// so that 3xx counts as an answer, and, as Kubernetes' httpGet probe, no
// check of an HTTPS server's certificate: a development server's is
// often its own, and the probe asks whether the program answers, not who
// it is (checkAddrFree made sure nothing else listens there).
var probeClient = &http.Client{
	Transport: &http.Transport{
		DisableKeepAlives: true,
		Proxy:             nil,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// maxTry bounds one try of a polling probe.
const maxTry = 2 * time.Second

// wait runs the probe against the incarnation s until it is ready, s
// exits, or ctx ends.
func (p Probe) wait(ctx context.Context, s *processes.Session, interval time.Duration) error {
	switch p.kind {
	case probeNone:
		return nil
	case probeOutput:
		return waitOutput(ctx, s, p.re)
	}
	var t *time.Timer
	var last error
	var wait time.Duration
	for {
		tctx, cancel := context.WithTimeout(ctx, maxTry)
		err := p.try(tctx, s)
		cancel()
		if err == nil {
			return nil
		}
		if last == nil || ctx.Err() == nil {
			last = err // not a try cut short by the end of the wake
		}
		// 1 ms, 2 ms, 4 ms, ... up to the interval: a program that starts
		// in a few milliseconds is not kept waiting a whole interval.
		wait = min(max(2*wait, time.Millisecond), interval)
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		} else {
			t.Reset(wait)
		}
		select {
		case <-t.C:
		case <-s.Done():
			return exitedErr(s)
		case <-ctx.Done():
			return fmt.Errorf("%w (probe: %v)", ctx.Err(), last)
		}
	}
}

// Check runs the probe once against the session s and returns nil if it
// passes now, or why not: a TCP or HTTP probe connects or asks once (a
// TCPProbe(""), a path, or the zero Probe, which is a TCP probe of the
// Upstream, has no Upstream to resolve against here, and fails), a func
// probe is called once, an output probe searches what s has printed so
// far, a StartedProbe passes. A FuncProbe may call it to combine probes.
func (p Probe) Check(ctx context.Context, s *processes.Session) error {
	switch p.kind {
	case probeNone:
		return nil
	case probeDefault:
		return errors.New("wake: the zero Probe checks the unit's Upstream, unknown to Check")
	case probeOutput:
		for _, b := range streamTexts(s.Output(0).Chunks) {
			if p.re.Match(b) {
				return nil
			}
		}
		return fmt.Errorf("no output matched %s", p.re)
	}
	return p.try(ctx, s)
}

// streamTexts joins chunks into one text per stream.
func streamTexts(chunks []processes.Chunk) map[string][]byte {
	texts := map[string][]byte{}
	for _, c := range chunks {
		texts[c.Stream] = append(texts[c.Stream], c.Data...)
	}
	return texts
}

// try runs a polling probe once.
func (p Probe) try(ctx context.Context, s *processes.Session) error {
	switch p.kind {
	case probeTCP:
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return err
		}
		return c.Close()
	case probeHTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
		if err != nil {
			return err
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 399 {
			return fmt.Errorf("GET %s: %s", p.url, resp.Status)
		}
		return nil
	case probeFunc:
		return p.fn(ctx, s)
	}
	return errors.New("wake: unknown probe")
}

// address returns the host:port that a TCP or HTTP probe connects to
// (an HTTP URL without a port has its scheme's), "" for the other probes
// and for a URL without a host.
func (p Probe) address() string {
	switch p.kind {
	case probeTCP:
		return p.addr
	case probeHTTP:
		u, err := url.Parse(p.url)
		if err != nil || u.Hostname() == "" {
			return ""
		}
		if u.Port() != "" {
			return u.Host
		}
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		return net.JoinHostPort(u.Hostname(), port)
	}
	return ""
}

// addrCheckTimeout bounds the check, before a cold start, that nothing
// accepts connections at an address of the unit: an address that has not
// answered within it is taken as free.
const addrCheckTimeout = 250 * time.Millisecond

// checkAddrFree returns an error wrapping ErrAddrInUse, naming addr, if a
// TCP connection to addr succeeds now; nil if it is refused, fails
// otherwise, or gets no answer within addrCheckTimeout or ctx.
func checkAddrFree(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, addrCheckTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("%w: %s accepts connections before the unit's process started: another program listens there (stop it, or give the unit another address)", ErrAddrInUse, addr)
}

// outputTail is how many of the last bytes of each stream an
// ErrExitedBeforeReady error quotes.
const outputTail = 512

// exitedErr says how s exited before it was ready, and what it printed
// last on stderr, then stdout, so that "Address already in use" or a
// missing module shows in the error.
func exitedErr(s *processes.Session) error {
	err := ErrExitedBeforeReady
	if st, ok := s.ExitStatus(); ok {
		err = fmt.Errorf("%w: %v", ErrExitedBeforeReady, st)
	}
	texts := streamTexts(s.Output(0).Chunks)
	for _, stream := range []string{"stderr", "stdout"} {
		if tail := lastLines(texts[stream], outputTail); tail != "" {
			err = fmt.Errorf("%w; %s ends: %q", err, stream, tail)
		}
	}
	return err
}

// lastLines returns at most n of the last bytes of b, trailing white
// space trimmed, from the start of a line where one begins within them.
func lastLines(b []byte, n int) string {
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// outputWindow is how much of each stream an output probe searches.
const outputWindow = 64 << 10

// waitOutput waits until re matches stdout or stderr of s, each kept as
// one text of at most outputWindow bytes, or s exits, or ctx ends.
func waitOutput(ctx context.Context, s *processes.Session, re *regexp.Regexp) error {
	texts := map[string][]byte{}
	since := 0
	for {
		out := s.Output(since)
		for _, c := range out.Chunks {
			since = c.Seq
			b := append(texts[c.Stream], c.Data...)
			if len(b) > outputWindow {
				b = append(b[:0], b[len(b)-outputWindow:]...)
			}
			texts[c.Stream] = b
		}
		if len(out.Chunks) > 0 {
			for _, b := range texts {
				if re.Match(b) {
					return nil
				}
			}
		}
		if !out.Alive {
			return exitedErr(s)
		}
		if err := s.WaitOutput(ctx, since); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w (probe: no output matched %s)", ctx.Err(), re)
			}
			return err
		}
	}
}
