// The chat page: each message opens an EventSource on /api/chat/stream and appends the text deltas
// ({"text": ...} events) to the reply as they come; the "done" event carries the finish reason and
// token counts. Stop (or leaving the page) closes the EventSource, which aborts the engine request.
(() => {
  const conversation = document.getElementById("conversation");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("message");
  const temperature = document.getElementById("temperature");
  const maxTokens = document.getElementById("max-tokens");
  const send = document.getElementById("send");
  const stop = document.getElementById("stop");
  const status = document.getElementById("status");
  let source = null;

  function bubble(role, text) {
    const div = document.createElement("div");
    div.className = "message " + role;
    div.textContent = text;
    conversation.appendChild(div);
    conversation.scrollTop = conversation.scrollHeight;
    return div;
  }

  function finish(reply, note) {
    if (source) {
      source.close();
      source = null;
    }
    reply.classList.remove("streaming");
    send.disabled = false;
    stop.disabled = true;
    status.textContent = note;
    input.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = input.value.trim();
    if (!message || source) {
      return;
    }
    bubble("user", message);
    input.value = "";
    const reply = bubble("assistant streaming", "");
    reply.id = "reply-" + conversation.children.length;
    send.disabled = true;
    stop.disabled = false;
    status.textContent = "generating…";
    const started = performance.now();
    let firstTokenAt = 0;
    let pieces = 0;

    const params = new URLSearchParams({ message });
    if (temperature.value !== "") params.set("temperature", temperature.value);
    if (maxTokens.value !== "") params.set("maxTokens", maxTokens.value);
    source = new EventSource("/api/chat/stream?" + params);
    source.onmessage = (e) => {
      const delta = JSON.parse(e.data);
      if (pieces++ === 0) firstTokenAt = performance.now();
      reply.textContent += delta.text;
      conversation.scrollTop = conversation.scrollHeight;
    };
    source.addEventListener("done", (e) => {
      const done = JSON.parse(e.data);
      const seconds = (performance.now() - started) / 1000;
      const ttft = firstTokenAt ? Math.round(firstTokenAt - started) + " ms to first token, " : "";
      finish(reply, done.completionTokens + " tokens in " + seconds.toFixed(2) + " s (" + ttft
        + (done.completionTokens / seconds).toFixed(0) + " tok/s), finish reason " + done.finishReason);
    });
    source.onerror = () => {
      // The server ends every stream with "done"; an error before it is a failed or refused request.
      if (source) {
        reply.classList.add("error");
        finish(reply, "the stream failed (is the server up?)");
      }
    };
    stop.onclick = () => finish(reply, "stopped");
  });
})();
