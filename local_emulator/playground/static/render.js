// How a conversation looks: turns of a user message and what the agent answered.
//
// The agent's answer is the /process stream's messages (ARCHITECTURE.md, "query"): text
// messages as text, reasoning and tool calls as collapsible blocks, each tool call's
// output inside its call's block (matched by call_id). The same code draws a stream as it
// arrives and a stored session's history (its messages have the same shape).
// Everything from the network goes in as text (textContent), never as HTML.

const CALLS = new Set(["plugin_call", "function_call", "mcp_call", "component_call"]);
const OUTPUTS = new Set([
  "plugin_call_output",
  "function_call_output",
  "mcp_call_output",
  "component_call_output",
]);
const FINAL = new Set(["completed", "failed", "canceled", "cancelled", "incomplete"]);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Text with ``` fences drawn as code blocks (an unclosed fence runs to the end). */
export function renderText(node, text) {
  node.replaceChildren();
  const fence = /```[^\n]*\n?([\s\S]*?)(?:```|$)/g;
  let at = 0;
  for (const match of text.matchAll(fence)) {
    if (match.index > at) node.append(text.slice(at, match.index));
    const pre = el("pre");
    pre.append(el("code", "", match[1]));
    node.append(pre);
    at = match.index + match[0].length;
  }
  if (at < text.length) node.append(text.slice(at));
}

function pretty(value) {
  if (typeof value !== "string") return JSON.stringify(value, null, 2);
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch (_) {
    return value;
  }
}

function textOf(content) {
  return (content || [])
    .filter((part) => part.type === "text")
    .map((part) => part.text || "")
    .join("");
}

function dataOf(content) {
  const part = (content || []).find((p) => p.type === "data" && p.data);
  return part ? part.data : null;
}

/** One exchange: the user's message and the agent's messages as they come. */
export class Turn {
  constructor(container, userText) {
    this.node = el("article", "turn");
    this.node.dataset.status = "streaming";
    if (userText !== null) {
      const user = el("div", "msg user");
      renderText(user, userText);
      this.node.append(user);
    }
    this.answer = el("div", "answer");
    this.status = el("div", "turn-status");
    this.node.append(this.answer, this.status);
    container.append(this.node);
    this.blocks = new Map(); // message id -> Block
    this.calls = new Map(); // call_id -> the tool call's Block
    this.setStatus("streaming");
  }

  setStatus(status, error) {
    this.node.dataset.status = status;
    const words = {
      streaming: "streaming…",
      completed: "completed",
      canceled: "stopped",
      cancelled: "stopped",
      incomplete: "incomplete",
      failed: "failed",
      history: "",
    };
    let text = words[status] ?? status;
    if (error) text += `: ${error.code || "error"} ${error.message || error.detail || ""}`.trimEnd();
    this.status.textContent = text;
  }

  /** A message event (or a stored message): open or update its block. */
  message(msg) {
    let block = this.blocks.get(msg.id);
    if (!block) {
      block = this.open(msg);
      if (msg.id) this.blocks.set(msg.id, block);
    }
    if (msg.status && msg.status !== "in_progress" && msg.status !== "created") {
      block.finish(msg);
    }
    return block;
  }

  /** A content event: grow the text (delta) or set the part whole. */
  content(ev) {
    const block = this.blocks.get(ev.msg_id) || this.message({ id: ev.msg_id, type: "message" });
    block.content(ev);
  }

  open(msg) {
    const type = msg.type || "message";
    if (OUTPUTS.has(type)) {
      return new OutputBlock(this, msg);
    }
    let block;
    if (CALLS.has(type)) block = new CallBlock(this, msg);
    else if (type === "reasoning") block = new ReasoningBlock(this.answer);
    else if (type === "heartbeat") block = new Block(null);
    else if (type === "error") block = new TextBlock(this.answer, "msg error");
    else block = new TextBlock(this.answer, `msg ${msg.role === "user" ? "user" : "assistant"}`);
    return block;
  }

  finish(status, error) {
    for (const block of this.blocks.values()) block.settle(status);
    this.setStatus(status, error);
  }
}

class Block {
  constructor(node) {
    this.node = node;
  }
  content() {}
  finish() {}
  settle(status) {
    if (this.node && this.node.classList.contains("streaming")) {
      this.node.classList.remove("streaming");
      this.node.dataset.status = status === "completed" ? "completed" : "incomplete";
    }
  }
}

class TextBlock extends Block {
  constructor(parent, className) {
    super(el("div", `${className} streaming`));
    this.body = this.node;
    this.parts = [];
    parent.append(this.node);
  }

  draw() {
    renderText(this.body, this.parts.join(""));
  }

  content(ev) {
    if (ev.type !== "text") return;
    const i = ev.index ?? 0;
    this.parts[i] = ev.delta ? (this.parts[i] || "") + (ev.text || "") : ev.text || "";
    this.draw();
  }

  finish(msg) {
    if (msg.content && msg.content.length) {
      this.parts = [textOf(msg.content)];
      this.draw();
    }
    this.node.classList.remove("streaming");
    this.node.dataset.status = msg.status;
  }
}

class ReasoningBlock extends TextBlock {
  constructor(parent) {
    super(parent, "");
    const details = el("details", "reasoning streaming");
    details.append(el("summary", "", "Reasoning"));
    this.body = el("div", "reasoning-text");
    details.append(this.body);
    this.node.replaceWith(details);
    this.node = details;
  }
}

class CallBlock extends Block {
  constructor(turn, msg) {
    const details = el("details", "tool-call streaming");
    super(details);
    this.turn = turn;
    this.summary = el("summary", "", "Tool call");
    this.args = el("pre", "tool-args");
    this.output = el("pre", "tool-output");
    this.output.hidden = true;
    details.append(this.summary, el("div", "label", "arguments"), this.args);
    this.outputLabel = el("div", "label", "output");
    this.outputLabel.hidden = true;
    details.append(this.outputLabel, this.output);
    details.dataset.type = msg.type;
    turn.answer.append(details);
    this.show(dataOf(msg.content), turn);
  }

  show(data, turn) {
    if (!data) return;
    if (data.name) {
      this.node.dataset.name = data.name;
      this.summary.textContent = `Tool call: ${data.name}`;
    }
    if (data.call_id) {
      this.node.dataset.callId = data.call_id;
      turn.calls.set(data.call_id, this);
    }
    if (data.arguments !== undefined) this.args.textContent = pretty(data.arguments);
  }

  content(ev) {
    if (ev.type === "data") this.show(ev.data, this.turn);
  }

  finish(msg) {
    this.show(dataOf(msg.content), this.turn);
    this.node.dataset.status = msg.status;
  }

  setOutput(data) {
    const output = data.output;
    this.output.textContent = typeof output === "string" ? output : pretty(output);
    this.output.hidden = false;
    this.outputLabel.hidden = false;
    this.node.classList.remove("streaming");
    this.node.dataset.state = "done";
  }
}

/** A tool's output: shown inside its call's block (a block of its own if the call is unknown). */
class OutputBlock extends Block {
  constructor(turn, msg) {
    super(null);
    this.turn = turn;
    this.type = msg.type;
  }

  place(data) {
    if (!data) return;
    let call = this.turn.calls.get(data.call_id);
    if (!call) {
      call = new CallBlock(this.turn, { type: this.type });
      call.show({ name: data.name, call_id: data.call_id }, this.turn);
    }
    call.setOutput(data);
  }

  content(ev) {
    if (ev.type === "data") this.place(ev.data);
  }

  finish(msg) {
    this.place(dataOf(msg.content));
  }
}

/** A stored session's messages drawn as turns (a turn starts at each user message). */
export function renderHistory(container, messages) {
  container.replaceChildren();
  let turn = null;
  for (const msg of messages) {
    if (msg.role === "user" && (msg.type || "message") === "message") {
      if (turn) turn.finish("history");
      turn = new Turn(container, textOf(msg.content));
      continue;
    }
    if (!turn) turn = new Turn(container, null);
    const block = turn.message({ ...msg, status: undefined });
    block.finish({ ...msg, status: msg.status || "completed" });
  }
  if (turn) turn.finish("history");
}

export function isFinal(status) {
  return FINAL.has(status);
}
