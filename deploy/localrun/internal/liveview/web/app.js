// The live page: each Server-Sent Event replaces the sections it names
// with their new HTML, rendered by the server. The correlation panel and the
// order form's answer are fetched as HTML too.
"use strict";

// chosen is the query of the correlation panel: {id} or {order}.
let chosen = null;

async function showTrace() {
  if (!chosen) return;
  const resp = await fetch("/correlation?" + new URLSearchParams(chosen));
  document.getElementById("trace").innerHTML = await resp.text();
}

function connect() {
  const stream = new EventSource("/events");
  stream.onmessage = (e) => {
    for (const [id, html] of Object.entries(JSON.parse(e.data))) {
      const el = document.getElementById(id);
      if (el) el.innerHTML = html;
    }
    // Events of the chosen correlation id keep arriving: follow them.
    showTrace();
  };
  stream.onerror = () => {
    document.getElementById("status").textContent = "disconnected, retrying…";
  };
}

document.addEventListener("click", (e) => {
  const link = e.target.closest("[data-corr], [data-order]");
  if (!link) return;
  e.preventDefault();
  chosen = link.dataset.corr ? { id: link.dataset.corr } : { order: link.dataset.order };
  showTrace().then(() => document.getElementById("trace").scrollIntoView());
});

document.getElementById("order-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const answer = document.getElementById("answer");
  answer.textContent = "sending…";
  try {
    const resp = await fetch("/order", { method: "POST", body: new URLSearchParams(new FormData(e.target)) });
    answer.innerHTML = await resp.text();
  } catch (err) {
    answer.textContent = "could not reach the live view: " + err;
  }
});

connect();
