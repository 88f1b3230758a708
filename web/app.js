// camrec page: one card per camera (live preview, record toggle, snapshot,
// camera controls) and the list of recordings, kept up to date by the
// server's events (/api/v1/events). Plain DOM, no dependencies, no build step.
"use strict";

(() => {
  // While a camera records, its card's figures (the recording's length and
  // size, fps) are read again each second; nothing is polled while idle.
  const FIGURES_POLL_MS = 1000;
  // What the events say is checked against the status this often all the
  // same, so that nothing can leave the page wrong for long.
  const SAFETY_POLL_MS = 60000;
  // An event stream that breaks is reopened after the server's retry (3 s),
  // then twice as long each time up to 30 s.
  const EVENTS_RETRY_MS = 3000;
  const EVENTS_RETRY_MAX_MS = 30000;
  // A preview stream that breaks while the camera streams is reopened
  // after 2 s, then 4, 8 … up to 30 s; a camera that does not stream gets no
  // stream request at all (the server would hold it open, frameless, and
  // keep the page loading): the status poll reopens it when the camera
  // streams again.
  const STREAM_RETRY_MS = 2000;
  const STREAM_RETRY_MAX_MS = 30000;

  const $ = (sel, root = document) => root.querySelector(sel);
  const enc = encodeURIComponent;

  // api calls the JSON API; it throws an Error carrying the server's
  // {"error": "..."} message for non-2xx answers.
  async function api(method, url, body) {
    const opts = { method, headers: {}, cache: "no-store" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(url, opts);
    if (res.status === 401) {
      loggedOut();
      throw new Error("logged out");
    }
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    if (!res.ok) {
      throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
    }
    return data;
  }

  // loggedOut goes to the login form: the session ended (logout elsewhere,
  // expiry, restart).
  let leaving = false;
  function loggedOut() {
    leaving = true;
    closeEvents();
    location.assign(`/login?next=${enc(location.pathname)}`);
  }

  // coalesce wraps an async refresh: a call while one runs asks for one
  // more run after it, so that a burst of events costs two requests at most
  // and the last answer is never older than the last call.
  function coalesce(fn) {
    let running = null;
    let again = false;
    const run = () => {
      if (running) {
        again = true;
        return running;
      }
      running = fn().finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
      return running;
    };
    return run;
  }

  function fmtBytes(n) {
    if (!n) return "0 B";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return `${n.toFixed(i === 0 || n >= 100 ? 0 : 1)} ${units[i]}`;
  }

  function fmtDuration(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(sec).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  // Times read in 24-hour form whatever the locale, as the camera's
  // picture and the file names (cam0-20261202-183143.mp4) have them; the
  // month and day follow the browser's locale.
  function fmtTime(iso) {
    const d = new Date(iso);
    return d.toLocaleString(undefined, {
      month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
  }

  // ---- connection indicator ----
  const conn = $("#conn");
  function setConnected(ok) {
    conn.textContent = ok ? "live" : "offline, retrying…";
    conn.classList.toggle("bad", !ok);
  }

  // ---- cameras ----
  const camerasEl = $("#cameras");
  const cards = new Map(); // name -> card state

  function streamURL(name) {
    return `/api/v1/cameras/${enc(name)}/stream.mjpg`;
  }

  // startStream opens the preview stream, if the page is visible and the
  // camera streams (as the last status poll said).
  function startStream(card) {
    cancelRetry(card);
    if (document.hidden || card.lastState !== "streaming") return;
    card.countSelf = true;
    card.img.src = `${streamURL(card.name)}?t=${Date.now()}`;
  }

  function cancelRetry(card) {
    clearTimeout(card.retry);
    card.retry = 0;
  }

  function stopStream(card) {
    cancelRetry(card);
    card.img.removeAttribute("src"); // closes the connection
  }

  // streamBroke handles the end of a preview stream (server restart, network
  // loss, too many viewers): while the camera streams, it retries with
  // backoff; otherwise it waits for the status poll to see it streaming.
  function streamBroke(card) {
    if (!card.img.getAttribute("src")) return;
    card.img.removeAttribute("src");
    cancelRetry(card);
    if (card.lastState !== "streaming" || document.hidden) return;
    const delay = card.retryDelay;
    card.retryDelay = Math.min(delay * 2, STREAM_RETRY_MAX_MS);
    card.retry = setTimeout(() => startStream(card), delay);
  }

  // What the overlay says over the preview for each state. The raw error
  // (the whole chain, for a bug report) stays in the API and the overlay's
  // tooltip.
  const NOT_FOUND_RE = /no such file or directory|no such device|\bENOENT\b|\bENODEV\b|\bENXIO\b/i;
  const BUSY_RE = /device or resource busy|\bEBUSY\b|another program is using/i;

  function stateSentence(cam) {
    const err = cam.error || "";
    const camera = cam.device ? `Camera ${cam.device}` : "Camera";
    switch (cam.state) {
      case "streaming":
        return "";
      case "starting":
        return "Starting…";
      case "stalled":
        return "No picture for a while — waiting for the camera";
      case "disconnected":
        return NOT_FOUND_RE.test(err) ? `${camera} not found (unplugged?) — retrying` : "Camera disconnected — retrying";
      case "error":
        return BUSY_RE.test(err) ? `${camera} is busy: another program is using it` : "Camera error — see the details";
      default:
        return `Camera ${cam.state || "unavailable"}`;
    }
  }

  // Why Record is disabled, for its tooltip.
  function recordBlockedReason(state) {
    switch (state) {
      case "starting": return "Record is available once the camera streams (it is starting)";
      case "stalled": return "Record is unavailable: the camera sends no picture";
      case "disconnected": return "Record is unavailable: the camera is disconnected";
      case "error": return "Record is unavailable: the camera has an error";
      default: return `Record is unavailable: the camera is ${state}`;
    }
  }

  // The controls panel shows while the device can be asked for its
  // controls: not while it is disconnected, failing or stalled. (While it
  // starts the panel shows, and reads the controls again once it streams.)
  function controlsUsable(state) {
    return state === "streaming" || state === "starting";
  }

  function makeCard(cam) {
    const el = $("#camera-template").content.firstElementChild.cloneNode(true);
    const card = {
      name: cam.name,
      el,
      img: $(".preview", el),
      overlay: $(".overlay", el),
      state: $(".state", el),
      recBadge: $(".rec-badge", el),
      meta: $(".meta", el),
      toggle: $(".record-toggle", el),
      toggleLabel: $(".record-toggle .label", el),
      recError: $(".rec-error", el),
      snapshot: $(".snapshot", el),
      active: false,
      busy: false,
      actionError: "",
      retry: 0,
      retryDelay: STREAM_RETRY_MS,
      countSelf: false, // read the status again at the stream's first frame
      recID: "", // the file being recorded, and its size: the one source of
      recBytes: 0, // the size shown on the button and in its list row
      controls: {
        el: $(".controls", el),
        list: $(".controls-list", el),
        status: $(".controls-status", el),
        rows: new Map(), // key -> update(control)
        loading: null,
        error: "", // the last PUT's error, kept until the next PUT succeeds
        has: false, // the camera has controls (has_controls): else never asked
        available: null, // null: not asked yet; false: none (404)
        usable: false, // the camera's state allows them (controlsUsable)
      },
      lastState: "", // set by updateCard, which starts the stream
    };
    el.dataset.camera = cam.name;
    $(".cam-name", el).textContent = cam.name;
    card.img.alt = `Live preview of ${cam.name}`;
    card.img.addEventListener("error", () => streamBroke(card));
    card.img.addEventListener("load", () => {
      card.retryDelay = STREAM_RETRY_MS;
      // The first frame: camrec now counts this page among the viewers,
      // which the status read before the stream opened did not.
      if (card.countSelf) {
        card.countSelf = false;
        refreshCameras();
      }
    });
    card.snapshot.href = `/api/v1/cameras/${enc(cam.name)}/snapshot.jpg`;
    card.snapshot.addEventListener("click", () => {
      // A fresh URL each time so the browser does not show a cached image.
      card.snapshot.href = `/api/v1/cameras/${enc(cam.name)}/snapshot.jpg?t=${Date.now()}`;
    });
    card.toggle.addEventListener("click", () => toggleRecording(card));
    card.controls.el.addEventListener("toggle", () => {
      if (card.controls.el.open) loadControls(card);
    });
    // updateCard, called next, starts the stream and reads the controls
    // once the camera's state allows them.
    return card;
  }

  function updateCard(card, cam) {
    const rec = cam.recording || {};
    const streaming = cam.state === "streaming";
    card.el.dataset.state = cam.state;
    card.state.textContent = cam.state;
    card.state.className = `badge state state-${cam.state}`;

    const overlay = stateSentence(cam);
    const detail = overlay ? cam.error || "" : "";
    if (card.overlay.textContent !== overlay) card.overlay.textContent = overlay;
    if (card.overlay.title !== detail) card.overlay.title = detail;
    card.overlay.hidden = !overlay;

    const parts = [];
    if (cam.width && cam.height) parts.push(`${cam.width}×${cam.height}`);
    if (cam.format) parts.push(cam.format.toUpperCase());
    // No rate until one was measured (a camera that just started, or one
    // that never delivered a frame), rather than a "0.0 fps" nobody measured.
    if (cam.fps_measured > 0) parts.push(`${cam.fps_measured.toFixed(1)} fps`);
    parts.push(`${cam.clients} viewer${cam.clients === 1 ? "" : "s"}`);
    card.meta.textContent = parts.join(" · ");

    const wasActive = card.active;
    card.active = !!rec.active;
    card.el.dataset.recording = card.active ? "on" : "off";
    card.recBadge.hidden = !card.active;
    card.toggle.classList.toggle("on", card.active);
    // Nothing to record from a camera that does not stream; a recording in
    // progress stays stoppable.
    const canRecord = streaming || card.active;
    card.toggle.disabled = card.busy || !canRecord;
    card.toggle.classList.toggle("unavailable", !canRecord);
    card.toggle.title = canRecord ? "" : recordBlockedReason(cam.state);
    card.toggle.setAttribute("aria-pressed", String(card.active));
    if (card.active) {
      const started = rec.started_at ? Date.parse(rec.started_at) : Date.now();
      const secs = (Date.now() - started) / 1000;
      card.toggleLabel.textContent = `Stop · ${fmtDuration(secs)} · ${fmtBytes(rec.bytes)}`;
    } else {
      card.toggleLabel.textContent = "Record";
    }
    // The file being recorded shows in the list with the same size as on
    // the button: both come from this status, read each second.
    const wasID = card.recID;
    card.recID = card.active ? rec.id || "" : "";
    card.recBytes = card.active ? rec.bytes || 0 : 0;
    for (const id of new Set([wasID, card.recID])) {
      const li = id && items.get(id);
      if (li) renderItemMeta(li);
    }

    const err = card.actionError || (!card.active && rec.error) || "";
    card.recError.textContent = err;
    card.recError.hidden = !err;

    if (wasActive !== card.active) refreshRecordings();

    const wasStreaming = card.lastState === "streaming";
    card.lastState = cam.state;

    // The preview: opened when the camera (again) streams, never retried
    // while it does not.
    if (streaming && (!wasStreaming || (!card.img.getAttribute("src") && !card.retry))) {
      card.retryDelay = STREAM_RETRY_MS;
      startStream(card);
    } else if (!streaming) {
      cancelRetry(card);
    }

    // The controls: hidden while the camera cannot be asked; read again when
    // it can (back from a disconnect, or streaming after starting).
    // A camera without controls (test:, file:, pipe:) is never asked.
    const c = card.controls;
    const usable = controlsUsable(cam.state);
    const reread = (usable && !c.usable) || (streaming && !wasStreaming);
    c.usable = usable;
    c.has = !!cam.has_controls;
    showControls(card);
    if (reread && c.has && c.available !== false) loadControls(card);
  }

  function showControls(card) {
    const c = card.controls;
    c.el.hidden = !(c.has && c.usable && c.available);
  }

  // ---- camera controls ----
  // GET /api/v1/cameras/{cam}/controls lists them, for a camera whose status
  // says has_controls (a V4L2 device); a 404 all the same hides the panel.
  // PUT sets one: {"name": key, "value": n}.

  function controlsURL(name) {
    return `/api/v1/cameras/${enc(name)}/controls`;
  }

  function setControlsStatus(card, text) {
    card.controls.status.textContent = text;
    card.controls.status.hidden = !text;
  }

  // loadControls (re)reads the controls; asked while a read is under way,
  // it reads once more after it, so a change is never shown stale.
  function loadControls(card) {
    const c = card.controls;
    if (c.loading) {
      c.again = true;
      return c.loading;
    }
    c.loading = fetchControls(card).finally(() => {
      c.loading = null;
      if (c.again) {
        c.again = false;
        loadControls(card);
      }
    });
    return c.loading;
  }

  async function fetchControls(card) {
    const c = card.controls;
    let res;
    try {
      res = await fetch(controlsURL(card.name), { cache: "no-store" });
    } catch {
      return; // offline: the connection indicator says so
    }
    c.available = res.status !== 404;
    showControls(card);
    if (!c.available) return;
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    if (!res.ok) {
      setControlsStatus(card, (data && data.error) || `${res.status} ${res.statusText}`);
      return;
    }
    setControlsStatus(card, c.error || (data.length ? "" : "This camera has no controls."));
    renderControls(card, data);
  }

  function renderControls(card, list) {
    const c = card.controls;
    const keys = list.map((ctl) => ctl.key).join(" ");
    if (keys === c.keys) {
      for (const ctl of list) c.rows.get(ctl.key)?.(ctl);
      return;
    }
    c.keys = keys;
    c.rows.clear();
    c.list.replaceChildren();
    for (const ctl of list) {
      const row = makeControlRow(card, ctl);
      if (row) c.list.appendChild(row);
    }
  }

  function hasFlag(ctl, flag) {
    return (ctl.flags || []).includes(flag);
  }

  // makeControlRow returns a row for ctl: a slider for an integer, a
  // checkbox for a boolean, a select for a menu, a button for a button, the
  // value as text for the rest.
  function makeControlRow(card, ctl) {
    const row = document.createElement("div");
    row.className = "ctl";
    row.dataset.key = ctl.key;
    const id = `ctl-${card.name}-${ctl.key}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = ctl.name;
    const out = document.createElement("output");
    out.htmlFor = id;
    let input;
    let update;
    switch (ctl.type) {
      case "integer":
      case "integer64":
        input = document.createElement("input");
        input.type = "range";
        input.min = ctl.min;
        input.max = ctl.max;
        input.step = ctl.step || 1;
        input.addEventListener("input", () => { out.value = input.value; });
        input.addEventListener("change", () => setControl(card, ctl.key, Number(input.value), row));
        update = (c) => { input.value = c.value; out.value = c.value; };
        break;
      case "boolean":
        input = document.createElement("input");
        input.type = "checkbox";
        input.addEventListener("change", () => setControl(card, ctl.key, input.checked ? 1 : 0, row));
        update = (c) => { input.checked = c.value !== 0; };
        break;
      case "menu":
      case "integer_menu":
        input = document.createElement("select");
        for (const e of ctl.menu || []) {
          const opt = document.createElement("option");
          opt.value = e.index;
          opt.textContent = ctl.type === "menu" ? e.name : String(e.value);
          input.appendChild(opt);
        }
        input.addEventListener("change", () => setControl(card, ctl.key, Number(input.value), row));
        update = (c) => { input.value = String(c.value); };
        break;
      case "button":
        input = document.createElement("button");
        input.type = "button";
        input.className = "btn ghost small";
        input.textContent = "Press";
        input.addEventListener("click", () => setControl(card, ctl.key, 1, row));
        update = () => {};
        break;
      default: // string, bitmask, compound: shown, not edited here
        input = document.createElement("span");
        update = (c) => { input.textContent = c.type === "bitmask" ? `0x${c.value.toString(16)}` : c.type; };
    }
    input.id = id;
    input.title = ctl.type === "button" ? ctl.name : `default ${ctl.default}`;
    const apply = (c) => {
      update(c);
      if ("disabled" in input) input.disabled = !canOperate() || hasFlag(c, "read_only") || hasFlag(c, "disabled");
      row.classList.toggle("inactive", hasFlag(c, "inactive"));
    };
    apply(ctl);
    row.append(label, input, out);
    card.controls.rows.set(ctl.key, apply);
    return row;
  }

  async function setControl(card, key, value, row) {
    row.classList.add("busy");
    try {
      const ctl = await api("PUT", controlsURL(card.name), { name: key, value });
      card.controls.rows.get(key)?.(ctl);
      card.controls.error = "";
    } catch (e) {
      card.controls.error = `${key}: ${e.message}`;
    } finally {
      setControlsStatus(card, card.controls.error);
      row.classList.remove("busy");
    }
    // Other controls may have changed with it (an auto mode makes its
    // manual value inactive).
    loadControls(card);
  }

  async function toggleRecording(card) {
    if (card.busy) return;
    card.busy = true;
    card.toggle.disabled = true;
    card.actionError = "";
    try {
      await api("PUT", `/api/v1/cameras/${enc(card.name)}/recording`, { active: !card.active });
    } catch (e) {
      card.actionError = e.message;
    } finally {
      card.busy = false;
    }
    await refreshCameras();
    refreshRecordings();
  }

  const refreshCameras = coalesce(loadCameras);

  async function loadCameras() {
    let cams;
    try {
      cams = await api("GET", "/api/v1/cameras");
      setConnected(true);
    } catch {
      setConnected(false);
      return;
    }
    $("#cameras-empty")?.remove();
    const seen = new Set();
    for (const cam of cams) {
      seen.add(cam.name);
      let card = cards.get(cam.name);
      if (!card) {
        card = makeCard(cam);
        cards.set(cam.name, card);
      }
      camerasEl.appendChild(card.el); // keeps API order; a no-op when in place
      updateCard(card, cam);
    }
    for (const [name, card] of cards) {
      if (!seen.has(name)) {
        stopStream(card);
        card.el.remove();
        cards.delete(name);
      }
    }
    if (cams.length === 0 && !$("#cameras .empty")) {
      camerasEl.insertAdjacentHTML("afterbegin", '<p class="empty">No camera configured.</p>');
    }
    pollFigures();
  }

  // pollFigures reads the status again in a second while a camera records
  // and the page is visible: the events say when a recording starts and
  // stops, not how long and large it has grown.
  let figuresTimer = 0;
  function pollFigures() {
    if (figuresTimer || document.hidden) return;
    if (![...cards.values()].some((card) => card.active)) return;
    figuresTimer = setTimeout(() => {
      figuresTimer = 0;
      refreshCameras();
    }, FIGURES_POLL_MS);
  }

  // Streams cost a connection each and CPU on a phone: stop them, and the
  // event stream, while the page is hidden. Back in view the event stream
  // reopens, and its opening reads the status again.
  document.addEventListener("visibilitychange", () => {
    for (const card of cards.values()) {
      if (document.hidden) stopStream(card);
      else {
        card.retryDelay = STREAM_RETRY_MS;
        startStream(card); // only if the camera streams
      }
    }
    if (document.hidden) closeEvents();
    else openEvents();
  });

  // ---- recordings ----
  const listEl = $("#recordings");
  const items = new Map(); // id -> li

  function makeItem(rec) {
    const li = $("#recording-template").content.firstElementChild.cloneNode(true);
    li.dataset.id = rec.id;
    $(".play", li).addEventListener("click", () => togglePlayer(li));
    $(".delete", li).addEventListener("click", () => deleteRecording(li));
    return li;
  }

  // recordingBytes is the size of a file being recorded as its camera's
  // status says (the button's figure), else as the list says.
  function recordingBytes(rec) {
    if (rec.state === "recording") {
      for (const card of cards.values()) {
        if (card.recID === rec.id) return card.recBytes;
      }
    }
    return rec.bytes;
  }

  function updateItem(li, rec) {
    li.rec = rec;
    li.dataset.state = rec.state;
    li.dataset.camera = rec.camera;
    li.dataset.fileUrl = rec.file_url;
    $(".rec-title", li).textContent = `${rec.camera} · ${fmtTime(rec.started_at)}`;
    renderItemMeta(li);
    const dl = $(".download", li);
    dl.href = `${rec.file_url}?download=1`;
    dl.setAttribute("download", "");
  }

  function renderItemMeta(li) {
    const rec = li.rec;
    const parts = [];
    if (rec.state === "recording") {
      parts.push("recording…");
    } else {
      parts.push(fmtDuration(rec.duration_s));
    }
    parts.push(fmtBytes(recordingBytes(rec)));
    if (rec.container) parts.push(rec.container.toUpperCase() + (rec.video_codec ? `/${rec.video_codec}` : ""));
    if (rec.width && rec.height) parts.push(`${rec.width}×${rec.height}`);
    if (rec.state !== "complete" && rec.state !== "recording") parts.push(rec.state);
    if (rec.uploaded_at) parts.push(rec.local === false ? "in the bucket only" : "uploaded");
    const meta = $(".rec-meta", li);
    const text = parts.join(" · ");
    if (meta.textContent !== text) meta.textContent = text;
    meta.title = rec.error || "";
  }

  function togglePlayer(li) {
    const btn = $(".play", li);
    let video = $("video", li);
    if (video) {
      video.pause();
      video.removeAttribute("src");
      video.load(); // releases the connection
      video.remove();
      btn.textContent = "Play";
      return;
    }
    video = document.createElement("video");
    video.controls = true;
    video.playsInline = true;
    video.preload = "metadata";
    video.src = li.dataset.fileUrl;
    li.appendChild(video);
    btn.textContent = "Close";
    // The player opens under its row, often below the fold: bring the row
    // and the player into view, again once the video's size is known.
    const reveal = () => li.scrollIntoView({ block: "nearest" });
    reveal();
    video.addEventListener("loadedmetadata", reveal, { once: true });
    video.play().catch(() => { /* autoplay may be refused: controls remain */ });
  }

  async function deleteRecording(li) {
    const title = $(".rec-title", li).textContent;
    if (!confirm(`Delete the recording ${title}?`)) return;
    try {
      await api("DELETE", `/api/v1/recordings/${enc(li.dataset.id)}`);
    } catch (e) {
      alert(`Could not delete: ${e.message}`);
    }
    refreshRecordings();
  }

  const refreshRecordings = coalesce(loadRecordings);

  async function loadRecordings() {
    let recs;
    try {
      recs = await api("GET", "/api/v1/recordings");
    } catch {
      return;
    }
    const seen = new Set();
    let prev = null;
    for (const rec of recs) {
      seen.add(rec.id);
      let li = items.get(rec.id);
      if (!li) {
        li = makeItem(rec);
        items.set(rec.id, li);
      }
      updateItem(li, rec);
      // Keep the server's order (newest first) without re-inserting items
      // that are in place, which would stop a playing video.
      const want = prev ? prev.nextSibling : listEl.firstChild;
      if (want !== li) listEl.insertBefore(li, want);
      prev = li;
    }
    for (const [id, li] of items) {
      if (!seen.has(id)) {
        li.remove();
        items.delete(id);
      }
    }
    $("#recordings-empty").hidden = recs.length > 0;
  }

  // ---- live events ----
  // GET /api/v1/events (Server-Sent Events) says when a camera's state
  // changes, a recording starts, a file is closed, a recording stops or
  // fails, or retention deletes one: the status or the list is read again
  // then. The stream is read with fetch() rather than EventSource: Chromium
  // counts an open EventSource as a pending fetch for good, so that a
  // headless screenshot with --virtual-time-budget never ran out of budget;
  // a fetch whose answer has begun is not counted. The reader does what
  // EventSource does: resumes with Last-Event-ID, heeds `retry`.
  let events = null; // the open stream's AbortController
  let eventsRetry = 0; // the timer of the next attempt
  let eventsDelay = EVENTS_RETRY_MS;
  let lastEventId = "";

  function setLive(live) {
    if (live) document.body.dataset.live = "events";
    else delete document.body.dataset.live;
  }

  // openEvents opens the event stream unless it is open or the page is
  // hidden.
  function openEvents() {
    clearTimeout(eventsRetry);
    eventsRetry = 0;
    if (events || document.hidden || leaving) return;
    const ctl = new AbortController();
    events = ctl;
    readEvents(ctl.signal).catch(() => { /* below */ }).finally(() => {
      if (events !== ctl || leaving) return; // closed by the page
      events = null;
      setLive(false);
      // The stream broke or ended (camrec restarted, network loss, a
      // proxy's timeout): the status says whether camrec is there (or
      // sends us to the login form); events may have been missed.
      refreshAll();
      eventsRetry = setTimeout(openEvents, eventsDelay);
      eventsDelay = Math.min(eventsDelay * 2, EVENTS_RETRY_MAX_MS);
    });
  }

  // closeEvents closes the stream, which frees what camrec keeps for it.
  function closeEvents() {
    clearTimeout(eventsRetry);
    eventsRetry = 0;
    const ctl = events;
    events = null;
    setLive(false);
    ctl?.abort();
  }

  async function readEvents(signal) {
    const headers = { Accept: "text/event-stream" };
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    const res = await fetch("/api/v1/events", { headers, cache: "no-store", signal });
    if (res.status === 401) {
      loggedOut();
      return;
    }
    if (!res.ok || !res.body) throw new Error(`${res.status} ${res.statusText}`);
    // Subscribed: what the status says now, the events carry on from.
    eventsDelay = EVENTS_RETRY_MS;
    setLive(true);
    setConnected(true);
    refreshAll();
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    let type = "", data = "", hasData = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      const lines = buf.split("\n");
      buf = lines.pop(); // an unfinished line
      for (let line of lines) {
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") { // the end of an event
          if (hasData) onEvent(type || "message", data);
          type = data = "";
          hasData = false;
          continue;
        }
        if (line.startsWith(":")) continue; // keep-alive
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        switch (field) {
          case "event": type = val; break;
          case "data": data = hasData ? `${data}\n${val}` : val; hasData = true; break;
          case "id": lastEventId = val; break;
          case "retry": if (/^\d+$/.test(val)) eventsDelay = Number(val); break;
        }
      }
    }
  }

  function refreshAll() {
    refreshCameras();
    refreshRecordings();
  }

  function onEvent(type, data) {
    document.body.dataset.lastEvent = type;
    switch (type) {
      case "camera_state":
      case "camera_lost":
      case "camera_found":
        refreshCameras();
        break;
      case "recording_started":
      case "segment_closed":
      case "recording_stopped":
      case "recording_failed":
        refreshAll();
        break;
      case "retention_deleted":
      case "recording_deleted": {
        let id = "";
        try { id = JSON.parse(data).recording_id || ""; } catch { /* not JSON */ }
        const li = items.get(id);
        if (li) { // gone from disk: out of the list at once
          li.remove();
          items.delete(id);
        }
        refreshRecordings();
        break;
      }
      case "events_lost": // the backlog did not reach back far enough
        refreshAll();
        break;
    }
  }

  // The safety poll: every minute, unless the page is hidden.
  function safetyPoll() {
    if (!document.hidden) refreshAll();
    setTimeout(safetyPoll, SAFETY_POLL_MS);
  }

  // Leaving the page (or into the back/forward cache) closes the stream;
  // coming back from that cache reopens it.
  window.addEventListener("pagehide", closeEvents);
  window.addEventListener("pageshow", (e) => {
    if (e.persisted) openEvents();
  });

  $("#refresh-recordings").addEventListener("click", () => refreshRecordings());

  // ---- who is logged in ----
  // GET /api/v1/me says who we are; a viewer gets no record, delete or
  // control buttons (the server refuses them anyway).
  let role = "viewer";
  function canOperate() { return role === "operator"; }

  async function loadMe() {
    try {
      const me = await api("GET", "/api/v1/me");
      role = me.role;
      document.body.dataset.role = me.role;
      if (me.auth) {
        $("#user-name").textContent = me.name;
        $("#user-role").textContent = me.role;
        $("#user").hidden = false;
      }
    } catch {
      document.body.dataset.role = role; // least power until known
    }
  }

  // Opening the event stream reads the status and the list (or, when it
  // cannot open, its failure does).
  loadMe().then(() => {
    openEvents();
    setTimeout(safetyPoll, SAFETY_POLL_MS);
  });
})();
