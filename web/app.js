// camrec page: one card per camera (live preview, record toggle, snapshot,
// camera controls, motion detection's state, arming and its mask and zone
// editor), the motion events and the list of recordings, kept up to date by
// the server's events (/api/v1/events). Plain DOM, no dependencies, no build
// step.
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
    setupMotion(card);
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

    updateMotion(card, cam.motion, cam);
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
    motionCamerasChanged();
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

  // ---- motion ----
  // A camera with motion detection has a "motion" object in its status:
  // whether it is armed and by what (always, the schedule, a user's
  // override), whether an event is open and in which zones, the last
  // score, the masks and zones. Operators arm and disarm it
  // (PUT …/motion {"armed": true|false}) or hand it back to its schedule
  // ({"armed": null}). motion_started and motion_ended say at once what
  // the status, read again then, confirms.

  function motionURL(name) {
    return `/api/v1/cameras/${enc(name)}/motion`;
  }

  // armedSentence says whether detection is armed and what decided it: a
  // user's override holds until the schedule's next change (override_until).
  function armedSentence(m) {
    const state = m.armed ? "Armed" : "Disarmed";
    switch (m.armed_by) {
      case "schedule": return `${state} by schedule`;
      case "user": return `${state} by you${m.override_until ? ` until ${fmtTime(m.override_until)}` : ""}`;
      default: return state;
    }
  }

  function hasOverride(m) {
    return m.override !== null && m.override !== undefined;
  }

  function setupMotion(card) {
    const el = card.el;
    const mo = {
      status: null, // the status's motion object; null: no detection
      badge: $(".motion-badge", el),
      row: $(".motion-row", el),
      state: $(".motion-state", el),
      score: $(".motion-score", el),
      arm: $(".motion-arm", el),
      follow: $(".motion-follow", el),
      error: $(".motion-error", el),
      actionError: "",
      busy: false,
    };
    card.motion = mo;
    mo.arm.addEventListener("click", () => setArmed(card, !(mo.status && mo.status.armed)));
    mo.follow.addEventListener("click", () => setArmed(card, null));
    setupEditor(card);
  }

  // updateMotion takes the motion object of a camera's status (undefined
  // when the camera has no detection).
  function updateMotion(card, m, cam) {
    card.motion.status = m || null;
    const ed = card.motion.editor;
    if (cam.width > 0 && cam.height > 0 && (cam.width !== ed.w || cam.height !== ed.h)) {
      ed.w = cam.width;
      ed.h = cam.height;
      ed.svg.setAttribute("viewBox", `0 0 ${ed.w} ${ed.h}`);
    }
    if (m) syncAreas(card, m);
    renderMotion(card);
  }

  function renderMotion(card) {
    const mo = card.motion;
    const m = mo.status;
    mo.badge.hidden = !m;
    mo.row.hidden = !m;
    mo.editor.el.hidden = !m;
    if (!m) {
      delete card.el.dataset.motion;
      mo.error.hidden = true;
      renderAreas(card);
      return;
    }
    const zones = m.active_zones || [];
    const state = m.active ? "active" : m.armed ? "armed" : "disarmed";
    card.el.dataset.motion = state;
    const badge = m.active ? "Motion" : m.armed ? "Armed" : "Disarmed";
    if (mo.badge.textContent !== badge) mo.badge.textContent = badge;
    mo.badge.className = `badge motion-badge motion-${state}`;
    const armed = armedSentence(m);
    const lower = armed[0].toLowerCase() + armed.slice(1);
    let text = m.active ? `Motion${zones.length ? ` in ${zones.join(", ")}` : ""}` : `Motion detection: ${lower}`;
    if (m.active && m.armed_by && m.armed_by !== "always") text += ` · ${lower}`;
    // Only a change is written: the state is a live region.
    if (mo.state.textContent !== text) mo.state.textContent = text;
    mo.state.title = m.error || "";
    const score = m.armed && typeof m.score === "number" ? `score ${m.score.toFixed(1)} %` : "";
    if (mo.score.textContent !== score) mo.score.textContent = score;
    mo.score.title = "The last analysed frame's changed area, in percent of the picture outside the masks";

    const op = canOperate();
    mo.arm.hidden = !op;
    mo.arm.textContent = m.armed ? "Disarm" : "Arm";
    mo.arm.disabled = mo.busy;
    mo.follow.hidden = !op || !hasOverride(m);
    mo.follow.disabled = mo.busy;
    mo.follow.title = "Let the schedule decide again (always armed without one)";
    const err = mo.actionError || (m.error ? `Motion detection: ${m.error}` : "");
    mo.error.textContent = err;
    mo.error.hidden = !err;
    renderAreas(card);
  }

  async function setArmed(card, armed) {
    const mo = card.motion;
    if (mo.busy) return;
    mo.busy = true;
    mo.actionError = "";
    renderMotion(card);
    try {
      const m = await api("PUT", motionURL(card.name), { armed });
      if (m && typeof m === "object" && mo.status) mo.status = { ...mo.status, ...m };
    } catch (e) {
      mo.actionError = e.message;
    } finally {
      mo.busy = false;
    }
    renderMotion(card);
    refreshCameras();
  }

  // motionEvent shows an event's start or end on its camera at once; the
  // status read next confirms it, and the event list gets the event.
  function motionEvent(type, data) {
    let ev = {};
    try { ev = JSON.parse(data) || {}; } catch { /* not JSON */ }
    const card = cards.get(ev.camera);
    if (card && card.motion.status) {
      const started = type === "motion_started";
      card.motion.status = { ...card.motion.status, active: started, active_zones: started ? ev.zones || [] : null };
      if (started && typeof ev.score === "number") card.motion.status.score = ev.score;
      renderMotion(card);
    }
    refreshCameras();
    refreshEvents();
  }

  // ---- the mask and zone editor ----
  // Over the live preview, an SVG whose viewBox is the camera's picture in
  // pixels, letterboxed as the <img> is (object-fit: contain and the SVG's
  // default preserveAspectRatio agree), so a point of the SVG is a point
  // of the picture. Areas are kept in normalised coordinates ([0, 1] from
  // the left and top edges) to 4 decimals, as the API takes them. Nothing
  // changes on the server until Save: PUT …/motion {"masks", "zones"},
  // applied by camrec at once.

  const SVGNS = "http://www.w3.org/2000/svg";
  const ZONE_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
  const CLOSE_DISTANCE = 0.03; // of the picture's longer side: a click this near the first corner closes
  let editorSeq = 0; // for unique ids

  const round4 = (v) => Math.round(v * 10000) / 10000;
  const clamp01 = (v) => Math.min(1, Math.max(0, v));
  const pct = (v) => `${Math.round(v * 100)} %`;

  function setupEditor(card) {
    const el = $(".motion-editor", card.el);
    const ed = {
      el,
      svg: $("svg.areas", card.el),
      help: $(".editor-help", el),
      list: $(".areas-list", el),
      empty: $(".areas-empty", el),
      draw: $(".editor-draw", el),
      actions: $(".editor-actions", el),
      status: $(".editor-status", el),
      kindMask: $(".kind-mask", el),
      kindZone: $(".kind-zone", el),
      name: $(".zone-name", el),
      start: $(".draw-start", el),
      undo: $(".draw-undo", el),
      close: $(".draw-close", el),
      cancel: $(".draw-cancel", el),
      save: $(".areas-save", el),
      revert: $(".areas-revert", el),
      areas: [], // {kind: "mask"|"zone", name, threshold, points: [[x, y], …]}
      server: "", // the areas as camrec has them (a PUT body, as JSON)
      draft: [], // the corners of the polygon being drawn
      cursor: [0.5, 0.5], // the keyboard's cursor
      focused: false,
      saving: false,
      w: 1600, // the picture's size: the SVG's viewBox
      h: 900,
    };
    card.motion.editor = ed;
    const n = ++editorSeq;
    ed.kindMask.name = ed.kindZone.name = `area-kind-${n}`;
    ed.help.id = `editor-help-${n}`;
    ed.svg.setAttribute("aria-describedby", ed.help.id);
    ed.svg.setAttribute("aria-label", `Masks and zones over the preview of ${card.name}`);

    el.addEventListener("toggle", () => {
      if (!el.open) ed.draft = [];
      renderAreas(card);
    });
    const kindChanged = () => {
      ed.name.disabled = !ed.kindZone.checked;
      if (ed.kindZone.checked) ed.name.focus();
    };
    ed.kindMask.addEventListener("change", kindChanged);
    ed.kindZone.addEventListener("change", kindChanged);
    ed.start.addEventListener("click", () => {
      ed.svg.focus();
      ed.svg.scrollIntoView({ block: "nearest" });
    });
    ed.undo.addEventListener("click", () => undoCorner(card));
    ed.close.addEventListener("click", () => closeDraft(card));
    ed.cancel.addEventListener("click", () => cancelDraft(card));
    ed.save.addEventListener("click", () => saveAreas(card));
    ed.revert.addEventListener("click", () => {
      ed.areas = areasOf(JSON.parse(ed.server || "{}"));
      ed.draft = [];
      say(card, "Back to the saved masks and zones.");
      renderAreas(card);
    });

    ed.svg.addEventListener("click", (e) => {
      if (!editing(card)) return;
      const p = toPicture(ed, e.clientX, e.clientY);
      if (!p) return;
      ed.cursor = p;
      addCorner(card, p);
    });
    ed.svg.addEventListener("focus", () => { ed.focused = true; renderAreas(card); });
    ed.svg.addEventListener("blur", () => { ed.focused = false; renderAreas(card); });
    ed.svg.addEventListener("keydown", (e) => {
      if (!editing(card) || e.altKey || e.ctrlKey || e.metaKey) return;
      const step = e.shiftKey ? 0.05 : 0.01;
      let [x, y] = ed.cursor;
      switch (e.key) {
        case "ArrowLeft": x -= step; break;
        case "ArrowRight": x += step; break;
        case "ArrowUp": y -= step; break;
        case "ArrowDown": y += step; break;
        case "Enter":
        case " ":
          e.preventDefault();
          addCorner(card, ed.cursor);
          return;
        case "Backspace":
        case "Delete":
          e.preventDefault();
          undoCorner(card);
          return;
        case "Escape":
          if (!ed.draft.length) return;
          e.preventDefault();
          cancelDraft(card);
          return;
        default:
          return;
      }
      e.preventDefault();
      ed.cursor = [round4(clamp01(x)), round4(clamp01(y))];
      say(card, `Cursor at ${pct(ed.cursor[0])} from the left, ${pct(ed.cursor[1])} from the top.`);
      renderAreas(card);
    });
  }

  // editing: the panel is open to an operator.
  function editing(card) {
    return canOperate() && card.motion.editor.el.open && !!card.motion.status;
  }

  function say(card, text) {
    card.motion.editor.status.textContent = text;
  }

  // areasOf turns the API's masks and zones into the editor's areas.
  function areasOf(m) {
    const pts = (p) => (p || []).map(([x, y]) => [x, y]);
    const out = [];
    for (const p of m.masks || []) out.push({ kind: "mask", name: "", points: pts(p) });
    for (const z of m.zones || []) out.push({ kind: "zone", name: z.name, threshold: z.threshold, points: pts(z.polygon) });
    return out;
  }

  // areasBody is the PUT body of the editor's areas.
  function areasBody(areas) {
    const pts = (p) => p.map(([x, y]) => [round4(x), round4(y)]);
    return {
      masks: areas.filter((a) => a.kind === "mask").map((a) => pts(a.points)),
      zones: areas.filter((a) => a.kind === "zone").map((a) => {
        const z = { name: a.name, polygon: pts(a.points) };
        if (a.threshold) z.threshold = a.threshold;
        return z;
      }),
    };
  }

  function dirty(ed) {
    return JSON.stringify(areasBody(ed.areas)) !== ed.server;
  }

  // syncAreas takes camrec's masks and zones; unsaved edits are kept.
  function syncAreas(card, m) {
    const ed = card.motion.editor;
    const server = JSON.stringify(areasBody(areasOf(m)));
    if (server === ed.server) return;
    const wasDirty = ed.server !== "" && dirty(ed);
    ed.server = server;
    if (!wasDirty) ed.areas = areasOf(m);
  }

  // toPicture is the normalised point of the picture under a click.
  function toPicture(ed, clientX, clientY) {
    const ctm = ed.svg.getScreenCTM();
    if (!ctm) return null;
    const p = new DOMPoint(clientX, clientY).matrixTransform(ctm.inverse());
    return [round4(clamp01(p.x / ed.w)), round4(clamp01(p.y / ed.h))];
  }

  function nearFirst(ed, p) {
    if (ed.draft.length < 3) return false;
    const [fx, fy] = ed.draft[0];
    const long = Math.max(ed.w, ed.h);
    return Math.hypot((p[0] - fx) * ed.w, (p[1] - fy) * ed.h) <= CLOSE_DISTANCE * long;
  }

  function addCorner(card, p) {
    const ed = card.motion.editor;
    if (nearFirst(ed, p)) {
      closeDraft(card);
      return;
    }
    ed.draft.push([p[0], p[1]]);
    const n = ed.draft.length;
    say(card, `Corner ${n} at ${pct(p[0])} from the left, ${pct(p[1])} from the top.` +
      (n < 3 ? ` ${3 - n} more to make a polygon.` : " Close the polygon at the first corner or with Close polygon."));
    renderAreas(card);
  }

  function undoCorner(card) {
    const ed = card.motion.editor;
    if (!ed.draft.length) return;
    ed.draft.pop();
    say(card, `Corner removed: ${ed.draft.length} left.`);
    renderAreas(card);
  }

  function cancelDraft(card) {
    const ed = card.motion.editor;
    ed.draft = [];
    say(card, "Polygon cancelled.");
    renderAreas(card);
  }

  function closeDraft(card) {
    const ed = card.motion.editor;
    if (ed.draft.length < 3) {
      say(card, "A polygon needs at least 3 corners.");
      return;
    }
    const zone = ed.kindZone.checked;
    const name = ed.name.value.trim();
    if (zone) {
      let problem = "";
      if (!ZONE_NAME_RE.test(name)) {
        problem = "Name the zone first: 1 to 32 characters a-z, 0-9, _ or -, starting with a letter or digit.";
      } else if (ed.areas.some((a) => a.kind === "zone" && a.name === name)) {
        problem = `There is a zone named ${name} already.`;
      }
      if (problem) {
        say(card, problem);
        ed.name.setAttribute("aria-invalid", "true");
        ed.name.focus();
        return;
      }
      ed.name.removeAttribute("aria-invalid");
      ed.name.value = "";
    }
    ed.areas.push({ kind: zone ? "zone" : "mask", name: zone ? name : "", points: ed.draft });
    ed.draft = [];
    say(card, `${zone ? `Zone ${name}` : "Mask"} added. Save to apply it.`);
    renderAreas(card);
  }

  async function saveAreas(card) {
    const ed = card.motion.editor;
    if (ed.saving) return;
    ed.saving = true;
    renderAreas(card);
    try {
      const m = await api("PUT", motionURL(card.name), areasBody(ed.areas));
      if (m && typeof m === "object") {
        ed.server = JSON.stringify(areasBody(areasOf(m)));
        ed.areas = areasOf(m);
        if (card.motion.status) card.motion.status = { ...card.motion.status, ...m };
      } else {
        ed.server = JSON.stringify(areasBody(ed.areas));
      }
      say(card, "Saved: camrec uses them now.");
    } catch (e) {
      say(card, `Not saved: ${e.message}`);
    } finally {
      ed.saving = false;
    }
    renderMotion(card);
  }

  function svgEl(name, attrs) {
    const e = document.createElementNS(SVGNS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }

  // renderAreas draws the areas, the polygon being drawn and the cursor,
  // lists the areas and sets the editor's buttons.
  function renderAreas(card) {
    const mo = card.motion;
    const ed = mo.editor;
    const m = mo.status;
    const open = !!m && ed.el.open;
    const edit = editing(card);
    ed.svg.toggleAttribute("hidden", !open); // an SVG element has no hidden property
    ed.svg.classList.toggle("editing", edit);
    ed.svg.setAttribute("tabindex", edit ? "0" : "-1");
    ed.svg.setAttribute("role", edit ? "application" : "img");
    if (edit) ed.svg.setAttribute("aria-roledescription", "drawing area");
    else ed.svg.removeAttribute("aria-roledescription");
    ed.draw.hidden = !edit;
    ed.actions.hidden = !canOperate();
    ed.help.hidden = !edit;
    if (!open) {
      ed.svg.replaceChildren();
      return;
    }
    const { w, h } = ed;
    const long = Math.max(w, h);
    const pts = (p) => p.map(([x, y]) => `${x * w},${y * h}`).join(" ");
    const moving = new Set(m.active_zones || []);
    const nodes = [];
    ed.areas.forEach((a) => {
      nodes.push(svgEl("polygon", { points: pts(a.points), class: `area ${a.kind}${moving.has(a.name) ? " moving" : ""}` }));
      if (a.kind === "zone" && a.points.length) {
        const cx = a.points.reduce((s, p) => s + p[0], 0) / a.points.length;
        const cy = a.points.reduce((s, p) => s + p[1], 0) / a.points.length;
        const t = svgEl("text", { x: cx * w, y: cy * h, class: "area-label", "font-size": 0.05 * h });
        t.textContent = a.name;
        nodes.push(t);
      }
    });
    if (ed.draft.length) {
      nodes.push(svgEl("polyline", { points: pts(ed.draft), class: "draft" }));
      ed.draft.forEach(([x, y], i) => {
        nodes.push(svgEl("circle", { cx: x * w, cy: y * h, r: (i === 0 && ed.draft.length >= 3 ? 0.014 : 0.008) * long, class: i === 0 ? "corner first" : "corner" }));
      });
    }
    if (edit && ed.focused) {
      const [x, y] = ed.cursor;
      const g = svgEl("g", { class: "cursor" });
      const d = 0.03 * long;
      g.append(svgEl("line", { x1: x * w - d, y1: y * h, x2: x * w + d, y2: y * h }),
        svgEl("line", { x1: x * w, y1: y * h - d, x2: x * w, y2: y * h + d }));
      nodes.push(g);
    }
    ed.svg.replaceChildren(...nodes);

    // The list: one row per area, with its Delete.
    const key = JSON.stringify([ed.areas, edit]);
    if (ed.listKey !== key) {
      ed.listKey = key;
      const rows = [];
      let masks = 0;
      ed.areas.forEach((a, i) => {
        const li = document.createElement("li");
        li.className = `area-item ${a.kind}`;
        const label = document.createElement("span");
        label.className = "area-name";
        label.textContent = a.kind === "mask" ? `Mask ${++masks}` : `Zone ${a.name}`;
        const meta = document.createElement("span");
        meta.className = "area-meta";
        meta.textContent = `${a.points.length} corners` + (a.threshold ? ` · threshold ${a.threshold} %` : "");
        li.append(label, meta);
        if (edit) {
          const del = document.createElement("button");
          del.type = "button";
          del.className = "btn ghost small danger";
          del.textContent = "Delete";
          del.setAttribute("aria-label", `Delete ${label.textContent.toLowerCase()}`);
          del.addEventListener("click", () => {
            ed.areas.splice(i, 1);
            say(card, `${label.textContent} deleted. Save to apply.`);
            renderAreas(card);
            // Keep the keyboard in the list.
            (ed.list.querySelectorAll("button")[Math.min(i, ed.areas.length - 1)] || ed.start).focus();
          });
          li.append(del);
        }
        rows.push(li);
      });
      ed.list.replaceChildren(...rows);
      ed.empty.hidden = ed.areas.length > 0;
    }

    const changed = dirty(ed);
    ed.undo.disabled = !ed.draft.length;
    ed.cancel.disabled = !ed.draft.length;
    ed.close.disabled = ed.draft.length < 3;
    ed.save.disabled = ed.saving || !changed;
    ed.revert.disabled = ed.saving || !changed;
    ed.save.textContent = ed.saving ? "Saving…" : changed ? "Save" : "Saved";
    card.el.dataset.areas = changed ? "unsaved" : "saved";
  }

  // ---- motion events ----
  // GET /api/v1/motion-events lists the events, newest first, each with
  // its snapshot (the frame with the most motion) and the recordings it
  // lies in. The list is read again when an event starts or ends and when
  // recordings change (an event's recording may start after it).
  const EVENTS_PAGE = 50;
  const EVENTS_MAX = 1000;
  const evSection = $("#events-section");
  const evList = $("#motion-events");
  const evEmpty = $("#events-empty");
  const evMore = $("#events-more");
  const evCamera = $("#events-camera");
  const evItems = new Map(); // id -> li
  let evLimit = EVENTS_PAGE;
  let motionCameras = ""; // the names of the cameras with detection, for the filter

  // motionCamerasChanged updates the camera filter after a status read; a
  // new set of cameras with detection reads the events.
  function motionCamerasChanged() {
    const names = [...cards.values()].filter((c) => c.motion.status).map((c) => c.name);
    const key = names.join("\n");
    if (key === motionCameras) return;
    motionCameras = key;
    const keep = evCamera.value;
    const opts = [new Option("All cameras", "")];
    for (const n of names) opts.push(new Option(n, n));
    evCamera.replaceChildren(...opts);
    evCamera.value = names.includes(keep) ? keep : "";
    evCamera.hidden = names.length < 2;
    refreshEvents();
  }

  const refreshEvents = coalesce(loadEvents);

  async function loadEvents() {
    if (!motionCameras && !evItems.size) {
      evSection.hidden = true;
      return;
    }
    let q = `limit=${evLimit}`;
    if (evCamera.value) q += `&camera=${enc(evCamera.value)}`;
    let data;
    try {
      data = await api("GET", `/api/v1/motion-events?${q}`);
    } catch {
      return;
    }
    const list = (data && data.events) || [];
    const seen = new Set();
    let prev = null;
    for (const ev of list) {
      seen.add(ev.id);
      let li = evItems.get(ev.id);
      if (!li) {
        li = makeEvent(ev);
        evItems.set(ev.id, li);
      }
      updateEvent(li, ev);
      const want = prev ? prev.nextSibling : evList.firstChild;
      if (want !== li) evList.insertBefore(li, want);
      prev = li;
    }
    for (const [id, li] of evItems) {
      if (!seen.has(id)) dropEvent(id, li);
    }
    evSection.hidden = false;
    evEmpty.hidden = list.length > 0;
    evMore.hidden = list.length < evLimit || evLimit >= EVENTS_MAX;
  }

  function dropEvent(id, li) {
    const v = $("video", li);
    if (v) closeVideo(v);
    li.remove();
    evItems.delete(id);
  }

  function makeEvent(ev) {
    const li = $("#event-template").content.firstElementChild.cloneNode(true);
    li.dataset.id = ev.id;
    $(".ev-open", li).setAttribute("aria-expanded", "false");
    $(".ev-open", li).addEventListener("click", () => toggleEvent(li));
    $(".delete", li).addEventListener("click", () => deleteEvent(li));
    return li;
  }

  // snapshotSrc changes when the snapshot may have: while the event goes
  // on it is the best frame so far (camrec replaces it as the peak grows),
  // final once it ended.
  function snapshotSrc(ev) {
    const url = ev.snapshot_url;
    const v = ev.active ? `${ev.peak_score}-${ev.end}` : "final";
    return `${url}${url.includes("?") ? "&" : "?"}v=${enc(v)}`;
  }

  function updateEvent(li, ev) {
    li.ev = ev;
    li.dataset.camera = ev.camera;
    li.dataset.active = ev.active ? "true" : "false";
    const rec = (ev.recordings || [])[0];
    li.dataset.recorded = rec ? "true" : "false";
    const title = `${ev.camera} · ${fmtTime(ev.start)}`;
    const parts = [ev.active ? "going on" : fmtDuration(ev.duration_s)];
    if (ev.zones && ev.zones.length) parts.push(ev.zones.join(", "));
    if (typeof ev.peak_score === "number") parts.push(`peak ${ev.peak_score.toFixed(1)} %`);
    if (!rec) parts.push("not recorded");
    const titleEl = $(".rec-title", li);
    if (titleEl.textContent !== title) titleEl.textContent = title;
    const meta = $(".rec-meta", li);
    const text = parts.join(" · ");
    if (meta.textContent !== text) meta.textContent = text;
    const btn = $(".ev-open", li);
    btn.title = rec ? "Play the recording from the event's start" : "Not recorded: show the snapshot";
    const img = $(".ev-snap", li);
    if (ev.snapshot_url) {
      const src = snapshotSrc(ev);
      if (img.getAttribute("src") !== src) img.src = src;
      img.hidden = false;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
    }
    const big = $(".ev-still", li);
    if (big && ev.snapshot_url && big.getAttribute("src") !== snapshotSrc(ev)) big.src = snapshotSrc(ev);
  }

  // toggleEvent opens the event under its row: its recording, played from
  // the event's start, or, when it was not recorded, its snapshot.
  function toggleEvent(li) {
    const btn = $(".ev-open", li);
    const shown = $(".ev-player", li);
    if (shown) {
      if (shown.tagName === "VIDEO") closeVideo(shown);
      shown.remove();
      btn.setAttribute("aria-expanded", "false");
      return;
    }
    const ev = li.ev;
    const rec = (ev.recordings || [])[0];
    const reveal = () => li.scrollIntoView({ block: "nearest" });
    let el;
    if (rec && rec.url) {
      const at = Math.max(0, Number(rec.offset_s) || 0);
      el = document.createElement("video");
      el.controls = true;
      el.playsInline = true;
      el.preload = "metadata";
      // The fragment asks for the second; currentTime makes sure of it.
      el.src = `${rec.url}#t=${at}`;
      el.addEventListener("loadedmetadata", () => {
        if (Math.abs(el.currentTime - at) > 0.1) el.currentTime = at;
        reveal();
      }, { once: true });
      el.play().catch(() => { /* autoplay may be refused: controls remain */ });
    } else {
      el = document.createElement("figure");
      const img = document.createElement("img");
      img.className = "ev-still";
      img.alt = `Snapshot of the motion on ${ev.camera} at ${fmtTime(ev.start)}`;
      if (ev.snapshot_url) img.src = snapshotSrc(ev);
      const cap = document.createElement("figcaption");
      cap.textContent = "Not recorded: only the snapshot was kept.";
      el.append(img, cap);
    }
    el.classList.add("ev-player");
    li.appendChild(el);
    btn.setAttribute("aria-expanded", "true");
    reveal();
  }

  function closeVideo(video) {
    video.pause();
    video.removeAttribute("src");
    video.load(); // releases the connection
  }

  async function deleteEvent(li) {
    const title = $(".rec-title", li).textContent;
    if (!confirm(`Delete the motion event ${title}? Its recording stays.`)) return;
    try {
      await api("DELETE", `/api/v1/motion-events/${enc(li.dataset.id)}`);
      dropEvent(li.dataset.id, li);
    } catch (e) {
      alert(`Could not delete: ${e.message}`);
    }
    refreshEvents();
  }

  evCamera.addEventListener("change", () => {
    evLimit = EVENTS_PAGE;
    for (const [id, li] of evItems) dropEvent(id, li);
    refreshEvents();
  });
  evMore.addEventListener("click", () => {
    evLimit = Math.min(evLimit * 2, EVENTS_MAX);
    refreshEvents();
  });
  $("#refresh-events").addEventListener("click", () => refreshEvents());

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
    refreshEvents();
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
        refreshEvents(); // an event may have lain in it
        break;
      }
      case "motion_started":
      case "motion_ended":
        motionEvent(type, data);
        break;
      case "events_lost": // the backlog did not reach back far enough
        refreshAll();
        break;
      default:
        // Whatever else the motion events catalogue says (a deletion).
        if (type.startsWith("motion")) refreshEvents();
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
