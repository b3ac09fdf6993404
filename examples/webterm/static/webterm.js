// webterm: start or reattach a terminal of the server's choosing and
// connect xterm.js to it over the WebSocket attach route of package httpapi.
(function () {
  "use strict";
  const api = "/api/terminals";
  const statusEl = document.getElementById("status");
  const warningEl = document.getElementById("warning");
  const term = new Terminal({ cursorBlink: true, scrollback: 5000 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();
  term.focus();

  // For tests and curious users: the terminal, its session and its state.
  // state is "connecting", "attached" or "ended"; reason is the code of a
  // closed message ("idle_timeout", ...) or "exited"; warning is the text
  // of the idle warning banner, "" while none is shown.
  const webterm = { term: term, id: "", state: "connecting", reason: "", message: "", warning: "" };
  window.term = term;
  window.webterm = webterm;
  // lines returns the active buffer's lines, trailing blanks trimmed.
  webterm.lines = function () {
    const b = term.buffer.active, out = [];
    for (let i = 0; i < b.length; i++) {
      out.push(b.getLine(i).translateToString(true));
    }
    return out;
  };

  let ws = null;
  const enc = new TextEncoder();

  function setStatus(text, ended) {
    statusEl.textContent = text;
    statusEl.className = ended ? "ended" : "";
  }

  // warn shows the idle warning banner; warn("") hides it.
  function warn(text) {
    webterm.warning = text;
    warningEl.textContent = text;
    warningEl.className = text ? "shown" : "";
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(typeof obj === "string" ? obj : JSON.stringify(obj));
    }
  }

  term.onData(function (d) {
    warn(""); // input is activity: the idle close is off again
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d));
  });
  term.onResize(function (size) {
    warn("");
    send({ type: "resize", rows: size.rows, cols: size.cols });
  });
  window.addEventListener("resize", function () { fit.fit(); });

  function end(reason, message) {
    if (webterm.state === "ended") return;
    webterm.state = "ended";
    webterm.reason = reason;
    webterm.message = message;
    warn("");
    setStatus("terminal " + webterm.id + " ended: " + message + " — reload the page for a new one", true);
  }

  function attach(id) {
    webterm.id = id;
    let exited = "";
    history.replaceState(null, "", "#" + id);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + api + "/" + encodeURIComponent(id) + "/attach?since=0");
    ws.binaryType = "arraybuffer";
    ws.onopen = function () {
      // The size may have changed since the terminal was started.
      send({ type: "resize", rows: term.rows, cols: term.cols });
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data !== "string") {
        term.write(new Uint8Array(ev.data));
        return;
      }
      const msg = JSON.parse(ev.data);
      switch (msg.type) {
        case "hello":
          webterm.state = "attached";
          setStatus("terminal " + id + " (the ID in the URL: reload to reattach)", false);
          break;
        case "warning":
          warn("This terminal will be closed for inactivity in " + Math.round(msg.seconds_left) +
            " s unless you type something.");
          break;
        case "missed":
          term.write("\r\n[webterm: " + msg.missed + " bytes of output were dropped]\r\n");
          break;
        case "exit":
          // A closed message may follow, when closing the session (idle
          // timeout, shutdown) is what ended the program: it says why.
          exited = msg.exit === null ? "the program exited" : "the program exited with code " + msg.exit;
          break;
        case "closed":
          end(msg.code, msg.code + " (" + msg.error + ")" + (exited ? "; " + exited : ""));
          break;
        case "error":
          term.write("\r\n[webterm: " + msg.code + ": " + msg.error + "]\r\n");
          break;
      }
    };
    ws.onclose = function (ev) {
      if (exited) {
        end("exited", exited);
        return;
      }
      end("disconnected", "disconnected (" + ev.code + (ev.reason ? " " + ev.reason : "") + ")");
    };
  }

  async function start() {
    const res = await fetch(api + "/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ rows: term.rows, cols: term.cols }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body.code + ": " + body.error);
    return body.id;
  }

  async function main() {
    const prev = decodeURIComponent(location.hash.slice(1));
    if (prev) {
      const res = await fetch(api + "/" + encodeURIComponent(prev));
      if (res.ok) {
        const st = await res.json();
        if (st.alive && !st.close_reason) {
          attach(prev);
          return;
        }
      }
      term.write("[webterm: terminal " + prev + " is gone; starting a new one]\r\n");
    }
    attach(await start());
  }

  main().catch(function (err) {
    end("error", "could not start a terminal: " + err.message);
  });
})();
