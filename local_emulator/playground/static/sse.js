// Server-sent events read from a fetch() body, as they arrive.
//
// EventSource cannot POST a body or send Authorization, so the page reads the stream itself:
// the WHATWG "event stream" format (https://html.spec.whatwg.org/multipage/server-sent-events.html):
// lines end with LF, CR or CRLF; a blank line ends an event; "data:" lines join with LF;
// lines starting with ":" are comments (the functions' keep-alive pings).

export async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  let event = "message";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // a CR at the end may yet get its LF: keep it for the next read
      const cr = !done && buffer.endsWith("\r") ? "\r" : "";
      const lines = (cr ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
      buffer = (done ? "" : lines.pop()) + cr; // the last piece may be a line still arriving
      for (const line of lines) {
        if (line === "") {
          if (data.length) yield { event, data: data.join("\n") };
          data = [];
          event = "message";
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let text = colon < 0 ? "" : line.slice(colon + 1);
          if (text.startsWith(" ")) text = text.slice(1);
          if (field === "data") data.push(text);
          else if (field === "event") event = text;
        }
      }
      if (done) {
        if (data.length) yield { event, data: data.join("\n") };
        return;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
