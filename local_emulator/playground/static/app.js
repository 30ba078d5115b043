// The playground: chat with the agent (POST /process, streamed), reopen sessions (the state
// function), stop a turn (POST /process/stop), watch a desktop sandbox (its desktop_url).

import {
  ApiError,
  currentUser,
  endpoint,
  errorOf,
  headers,
  listSandboxes,
  listSessions,
  MAX_LISTED_SESSIONS,
  loadSettings,
  saveSettings,
  sessionMessages,
  settings,
  stopTurn,
} from "./api.js";
import { isFinal, renderHistory, Turn } from "./render.js";
import { sseEvents } from "./sse.js";

const $ = (id) => document.getElementById(id);
const ui = {
  messages: $("messages"),
  prompt: $("prompt"),
  send: $("send"),
  stop: $("stop"),
  sessions: $("sessions"),
  sessionLine: $("session-line"),
  notice: $("notice"),
  settings: $("settings"),
  live: $("live-view"),
  desktop: $("desktop"),
  who: $("who"),
};

const state = {
  sessionId: null,
  running: null, // {turn, controller, stopping}
  titles: new Map(), // session id -> its first user message, for the list
};

function notice(text) {
  ui.notice.textContent = text || "";
  ui.notice.hidden = !text;
}

function explain(exc) {
  if (exc instanceof ApiError) {
    if (exc.status === 401) {
      needToken();
      return `${exc.code}: ${exc.message} - paste a token under Connection`;
    }
    return `${exc.code}: ${exc.message}`;
  }
  return String(exc && exc.message ? exc.message : exc);
}

function needToken() {
  ui.settings.open = true;
  $("token-row").classList.add("wanted");
  $("token").focus();
}

function showWho() {
  const mode = settings.authMode === "jwt" ? "JWT" : "local, no auth";
  ui.who.textContent = `user ${currentUser()} · ${mode}`;
}

function setSession(id) {
  state.sessionId = id;
  ui.sessionLine.textContent = id ? `Session ${id}` : "New conversation";
  const hash = id ? `#session=${encodeURIComponent(id)}` : "";
  if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname + location.search);
  for (const item of ui.sessions.children) {
    item.classList.toggle("current", item.dataset.sessionId === id);
  }
}

function setRunning(running) {
  state.running = running;
  ui.send.disabled = !!running;
  ui.stop.disabled = !running;
}

// --- sessions ------------------------------------------------------------------------

// a session's title (its first message) is read when its entry scrolls into view: a list
// of thousands reads only what is shown
const titles = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    titles.unobserve(entry.target);
    const id = entry.target.closest("li").dataset.sessionId;
    if (!state.titles.has(id)) fillTitle(id, entry.target);
  }
});
let listing = 0; // the latest refresh: an older one that ends later is dropped

async function refreshSessions() {
  const mine = ++listing;
  let items, more;
  try {
    ({ items, more } = await listSessions());
  } catch (exc) {
    if (mine === listing) notice(`sessions: ${explain(exc)}`);
    return;
  }
  if (mine !== listing) return;
  items.sort((a, b) => (b.updated_at || b.created_at) - (a.updated_at || a.created_at));
  titles.disconnect();
  ui.sessions.replaceChildren();
  for (const session of items) {
    const item = document.createElement("li");
    item.dataset.sessionId = session.id;
    item.classList.toggle("current", session.id === state.sessionId);
    const button = document.createElement("button");
    button.type = "button";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = state.titles.get(session.id) || session.id;
    const when = document.createElement("span");
    when.className = "when muted";
    when.textContent = new Date((session.updated_at || session.created_at) * 1000).toLocaleString();
    button.append(title, when);
    button.addEventListener("click", () => openSession(session.id));
    item.append(button);
    ui.sessions.append(item);
    if (!state.titles.has(session.id)) titles.observe(title);
  }
  if (more) {
    const item = document.createElement("li");
    item.className = "more muted";
    item.textContent = `${MAX_LISTED_SESSIONS} sessions listed, more not shown`;
    ui.sessions.append(item);
  }
}

async function fillTitle(sessionId, node) {
  try {
    const [first] = await sessionMessages(sessionId, 1);
    const text = first && (first.content || []).find((c) => c.type === "text");
    if (text && text.text) {
      const title = text.text.replace(/\s+/g, " ").slice(0, 60);
      state.titles.set(sessionId, title);
      node.textContent = title;
    }
  } catch (_) {
    // the id stays the title
  }
}

async function openSession(sessionId) {
  if (state.running) return;
  notice("");
  let messages;
  try {
    messages = await sessionMessages(sessionId);
  } catch (exc) {
    notice(`session ${sessionId}: ${explain(exc)}`);
    return;
  }
  setSession(sessionId);
  renderHistory(ui.messages, messages);
  ui.messages.scrollTop = ui.messages.scrollHeight;
  refreshLiveView();
}

function newChat() {
  if (state.running) return;
  setSession(null);
  ui.messages.replaceChildren();
  notice("");
  refreshLiveView();
  ui.prompt.focus();
}

// --- a turn ----------------------------------------------------------------------------

async function send(text) {
  notice("");
  const turn = new Turn(ui.messages, text);
  ui.messages.scrollTop = ui.messages.scrollHeight;
  const controller = new AbortController();
  setRunning({ turn, controller, stopping: false });
  const body = {
    input: [{ role: "user", type: "message", content: [{ type: "text", text }] }],
    stream: true,
  };
  if (state.sessionId) body.session_id = state.sessionId;
  if (settings.user) body.user_id = settings.user;
  let ended = false;
  try {
    const resp = await fetch(endpoint(settings.query, "/process"), {
      method: "POST",
      headers: { ...headers(true), Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!resp.ok) throw await errorOf(resp);
    const sid = resp.headers.get("X-Session-Id");
    if (sid && !state.sessionId) setSession(decodeURIComponent(sid));
    for await (const { data } of sseEvents(resp.body)) {
      ended = handle(turn, JSON.parse(data)) || ended;
      ui.messages.scrollTop = ui.messages.scrollHeight;
    }
    if (!ended) turn.finish("incomplete", { code: "stream_ended", message: "the stream ended early" });
  } catch (exc) {
    if (exc.name === "AbortError") turn.finish("canceled");
    else {
      turn.finish("failed", { code: exc.code || "error", message: exc.message });
      notice(explain(exc));
    }
  } finally {
    setRunning(null);
    refreshSessions();
    refreshLiveView();
  }
}

/** One event of the stream; true when it ends the turn. */
function handle(turn, ev) {
  if (ev.object === "response") {
    if (ev.session_id && ev.session_id !== state.sessionId) setSession(ev.session_id);
    if (isFinal(ev.status)) {
      turn.finish(ev.status, ev.error);
      return true;
    }
    return false;
  }
  if (ev.object === "message") {
    turn.message(ev);
    if (ev.status === "completed" && ev.type && ev.type.endsWith("_call")) refreshLiveView();
  } else if (ev.object === "content") {
    turn.content(ev);
  }
  return false;
}

async function stop() {
  const running = state.running;
  if (!running || running.stopping) return;
  running.stopping = true;
  ui.stop.disabled = true;
  if (!state.sessionId) {
    running.controller.abort(); // no session yet: hanging up stops the turn
    return;
  }
  try {
    await stopTurn(state.sessionId); // the stream then ends "canceled", output kept
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.code === "no_running_turn")) {
      notice(`stop: ${explain(exc)}`);
      running.controller.abort();
    }
  }
}

// --- the live view of a desktop sandbox --------------------------------------------------

let liveSeq = 0;

async function refreshLiveView() {
  const seq = ++liveSeq;
  const sessionId = state.sessionId;
  let box = null;
  if (sessionId) {
    try {
      const items = await listSandboxes();
      box = items.find((b) => b.session_id === sessionId && b.desktop_url) || null;
    } catch (_) {
      box = null; // no sandbox function here, or not ours to list: no live view
    }
  }
  if (seq !== liveSeq) return; // a later refresh won
  ui.live.hidden = !box;
  document.body.classList.toggle("with-live-view", !!box);
  if (!box) {
    if (ui.desktop.src) ui.desktop.removeAttribute("src");
    return;
  }
  if (ui.desktop.getAttribute("src") !== box.desktop_url) ui.desktop.src = box.desktop_url;
  $("live-open").href = box.desktop_url;
  $("live-caption").textContent = `${box.type} sandbox ${box.sandbox_id}`;
  ui.live.dataset.sandboxId = box.sandbox_id;
}

// --- wiring ----------------------------------------------------------------------------

function fillSettingsForm() {
  $("query-url").value = settings.query;
  $("state-url").value = settings.state;
  $("sandbox-url").value = settings.sandbox;
  $("user").value = settings.user;
  $("user").placeholder = currentUser();
  $("token").value = settings.token;
  $("token-row").classList.toggle("wanted", settings.authMode === "jwt" && !settings.token);
}

async function main() {
  await loadSettings();
  fillSettingsForm();
  showWho();
  if (settings.authMode === "jwt" && !settings.token) needToken();

  $("settings-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveSettings({
      query: $("query-url").value.trim(),
      state: $("state-url").value.trim(),
      sandbox: $("sandbox-url").value.trim(),
      user: $("user").value.trim(),
      token: $("token").value.trim(),
    });
    fillSettingsForm();
    showWho();
    ui.settings.open = false;
    state.titles.clear();
    newChat();
    refreshSessions();
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.prompt.value.trim();
    if (!text || state.running) return;
    ui.prompt.value = "";
    send(text);
  });
  ui.prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  ui.stop.addEventListener("click", stop);
  $("new-chat").addEventListener("click", newChat);
  $("refresh-sessions").addEventListener("click", refreshSessions);

  const match = location.hash.match(/^#session=(.+)$/);
  await refreshSessions();
  if (match) await openSession(decodeURIComponent(match[1]));
  document.body.dataset.ready = "true";
}

main();
