// The editors' page: sends the article to /v1/summarize, reads the NDJSON
// stream (one event per line) and shows the summary as it is written, then its
// grounding and the translations. No libraries, nothing from the network but
// this server.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { kind: "text", controller: null, result: null, sentences: [], generation: -1 };
const NAMES = { fr: "French", de: "German", es: "Spanish", it: "Italian", pt: "Portuguese" };
// The API key lives for this tab's session only: localStorage would keep it in
// plain text on disk for anyone who uses the machine later.
const KEY_ITEM = "abridge-api-key";

// Support strength of a summary sentence, from its grounding. Below the server's
// support line (coverage 0.34, or a name the article lacks, or the model's check
// saying no) it is unsupported; from STRONG up the article says nearly all of it.
const STRONG = 0.6;
const STRENGTHS = {
  strong: "stated in the article",
  partial: "partly in the article",
  weak: "not backed by the article",
};

function strength(s) {
  const level = !s.supported ? "weak" : s.coverage >= STRONG ? "strong" : "partial";
  return { level, label: STRENGTHS[level], percent: Math.round((s.coverage || 0) * 100) };
}

// Warnings by kind (the API's warning_details), in an editor's words: what it
// means for the text and what to do. The server's own sentence is the tooltip.
const WARNING_TEXT = {
  input: () => "Part of the file could not be read exactly as written (its encoding or a field). Check the article text below.",
  withheld_orders: () => "Some article sentences read like instructions to the software, so it did not read them. The summary leaves them out.",
  off_article: () => "This summary may not be about the article. Read it against the article before using it.",
  unsupported: (w) => "Summary sentence " + w.sentence + " is not backed by the article. Check it, or leave it out.",
  parts_cut: () => "The article is long, and some parts of it were summarized only in part. The summary may miss something.",
  answer_cut: () => "The summary may stop mid-thought: the model ran out of room. Check its last sentence.",
  shortened: () => "The model wrote more than was asked for; the extra was cut.",
  too_few: () => "The summary is shorter than you asked for: the model did not find more to say.",
  dropped: () => "The model wrote more sentences than you asked for; the ones the article does not back, then the last ones, were left out.",
  translation_note: (w) => languageName(w.lang) + " translation: a sentence may be wrong and is marked. Check it before publishing.",
  translation_failed: (w) => "The " + languageName(w.lang) + " translation is not published: it failed its checks.",
};

function languageName(code) { return NAMES[code] || code; }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function status(text) { $("status").textContent = text; }

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

function apiHeaders() {
  const h = { "Content-Type": "application/json", "Accept": "application/x-ndjson" };
  const key = $("api-key").value.trim() || sessionStorage.getItem(KEY_ITEM) || "";
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function checkHealth() {
  try {
    const r = await fetch("/health");
    const body = await r.json();
    if (r.ok) {
      $("model-status").textContent = "model: " + body.model;
      return;
    }
    $("model-status").textContent = "loading " + (body.model || "the model") + "…";
  } catch (e) {
    $("model-status").textContent = "the server is not answering";
  }
  setTimeout(checkHealth, 2000);
}

function resetOutput() {
  state.result = null;
  state.generation = -1;
  $("summary-live").textContent = "";
  $("summary-live").hidden = true;
  $("summary").replaceChildren();
  $("summary-hint").hidden = true;
  $("warnings").replaceChildren();
  $("translations").replaceChildren();
  $("translation-live").hidden = true;
  $("translation-live-text").textContent = "";
  $("copy").disabled = true;
  showError("");
}

function renderArticle(sentences) {
  state.sentences = sentences;
  const src = $("source");
  src.classList.remove("muted");
  src.replaceChildren();
  let para = null, last = -1;
  for (const s of sentences) {
    if (s.paragraph !== last) {
      para = el("p");
      src.append(para);
      last = s.paragraph;
    }
    para.append(el("span", { class: "sentence", "data-n": String(s.n), id: "S" + s.n },
      el("span", { class: "num" }, "S" + s.n), s.text), " ");
  }
}

function highlight(sources, item) {
  for (const e of document.querySelectorAll(".source .sentence.hl")) e.classList.remove("hl");
  for (const e of document.querySelectorAll(".summary .sentence.selected")) e.classList.remove("selected");
  item.classList.add("selected");
  let first = null;
  for (const n of sources) {
    const s = document.querySelector('.source .sentence[data-n="' + n + '"]');
    if (s) { s.classList.add("hl"); first = first || s; }
  }
  if (first) first.scrollIntoView({ block: "center", behavior: "smooth" });
}

function renderSummary(data) {
  $("summary-live").hidden = true;
  const bullets = $("style").value === "bullets";
  const box = $("summary");
  box.replaceChildren();
  const holder = bullets ? el("ul") : el("p");
  for (const s of data.support) {
    const sources = s.sources.map((x) => x.n);
    const cite = sources.length ? " [" + sources.map((n) => "S" + n).join(", ") + "]" : "";
    const st = strength(s);
    // The level is written out (label and percentage), not shown by colour alone.
    const badge = el("span", { class: "strength", "data-level": st.level },
      st.label + " · " + st.percent + "%");
    const span = el("span", {
      class: "sentence strength-" + st.level + (s.supported ? "" : " unsupported"),
      "data-sources": sources.join(","),
      "data-strength": st.level,
      title: (s.supported ? "supported by " + cite.trim()
        : "not backed by the article" + (s.unknown && s.unknown.length ? ": it never mentions " + s.unknown.join(", ") : "")) +
        " (" + st.percent + "% of its words are in the sentences cited)",
    }, s.sentence, " ", badge,
    el("span", { class: "cite" }, s.supported ? cite : cite + " [unsupported]"));
    span.addEventListener("click", () => highlight(sources, span));
    if (bullets) holder.append(el("li", {}, span)); else holder.append(span, " ");
  }
  box.append(holder);
  $("summary-hint").hidden = false;
  addWarnings(data);
}

// An event's warnings: by kind where the server gives one, else as it wrote them.
function addWarnings(ev) {
  const details = ev.warning_details || (ev.warnings || []).map((message) => ({ message }));
  for (const w of details) {
    const word = WARNING_TEXT[w.kind];
    $("warnings").append(el("li", { "data-kind": w.kind || "", title: w.message }, word ? word(w) : w.message));
  }
}

function checkItems(checks) {
  const ul = el("ul", { class: "checks" });
  for (const name of ["language", "numbers", "names"]) {
    const c = checks && checks[name];
    if (!c) continue;
    ul.append(el("li", { class: c.passed ? "pass" : "fail" }, name + (c.detail ? ": " + c.detail : "")));
  }
  return ul;
}

function renderTranslation(t) {
  const name = t.language || NAMES[t.lang] || t.lang;
  const ok = t.translation != null;
  const section = el("section", { class: "translation" + (ok ? "" : " failed"), "data-lang": t.lang },
    el("h2", {}, name),
    el("div", { class: "text" }, ok ? t.translation : "Not published: " + t.error),
    checkItems(t.checks));
  $("translations").append(section);
}

function onEvent(ev) {
  switch (ev.event) {
    case "article": renderArticle(ev.sentences); addWarnings(ev); status("Reading the article…"); break;
    case "token": onToken(ev); break;
    case "summary": state.result = { summary: ev }; renderSummary(ev); status("Translating…"); break;
    case "translation": $("translation-live").hidden = true; renderTranslation(ev); break;
    case "done":
      state.result = ev;
      $("copy").disabled = false;
      status("Done in " + ev.seconds.toFixed(1) + " s (" + ev.tokens_in + " tokens read, " + ev.tokens_out + " written).");
      break;
    case "error": showError(ev.error.message); status("Failed."); break;
  }
}

// Text as the model writes it. Only what the reader will get is shown: the summary
// draft, or a translation under the name of its language; the yes/no checks and
// the English read-backs of translations only say so in the status line.
function onToken(ev) {
  const writes = ev.writes || ($("summary").childElementCount > 0 ? "translation" : "text");
  if (writes === "check") { status("Checking the summary against the article…"); return; }
  const name = ev.language || languageName(ev.lang);
  if (writes === "round_trip") { status("Checking the " + name + " translation…"); return; }
  const translating = writes === "translation";
  const live = translating ? $("translation-live-text") : $("summary-live");
  if (ev.generation !== state.generation) {
    // A new generation: a retry, the next sentence, or the next language.
    state.generation = ev.generation;
    live.textContent = "";
    if (translating) {
      $("translation-live-label").textContent = (name || "Translation") + " — being written";
      if (ev.lang) live.setAttribute("lang", ev.lang); else live.removeAttribute("lang");
    }
  }
  (translating ? $("translation-live") : live).hidden = false;
  live.textContent += ev.text;
  status(translating ? "Translating into " + (name || "the next language") + "…" : "Writing the summary…");
}

async function summarize() {
  const text = $("article").value;
  if (!text.trim()) { showError("Paste an article or drop a file first."); return; }
  resetOutput();
  const body = {
    [state.kind]: text,
    sentences: Number($("sentences").value) || 3,
    style: $("style").value,
    to: [...document.querySelectorAll("#languages input:checked")].map((c) => c.value),
  };
  const controller = new AbortController();
  state.controller = controller;
  $("summarize").disabled = true;
  $("stop").disabled = false;
  status("Waiting for the model…");
  try {
    const r = await fetch("/v1/summarize", { method: "POST", headers: apiHeaders(), body: JSON.stringify(body), signal: controller.signal });
    if (!r.ok) {
      let message = "The server answered " + r.status + ".";
      try { message = (await r.json()).error.message; } catch (_) { /* not JSON */ }
      if (r.status === 401) $("api-key-row").hidden = false;
      if (r.status === 429) message += " (" + (r.headers.get("Retry-After") || "a few") + " s)";
      showError(message);
      status("Failed.");
      return;
    }
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY_ITEM, key);
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) onEvent(JSON.parse(line));
      }
    }
  } catch (e) {
    if (e.name === "AbortError") status("Stopped.");
    else { showError("The connection failed: " + e.message); status("Failed."); }
  } finally {
    state.controller = null;
    $("summarize").disabled = false;
    $("stop").disabled = true;
  }
}

// The server lays the results out as the digest's article files do, model text
// escaped, so what is pasted shows as written (no headings, links or HTML from it).
function toMarkdown() {
  const r = state.result;
  return r && typeof r.markdown === "string" ? r.markdown : "";
}

async function copyMarkdown() {
  const md = toMarkdown();
  try {
    await navigator.clipboard.writeText(md);
    status("Copied the summary as markdown.");
  } catch (_) {
    // No clipboard access (plain http on another host): select it for Ctrl-C.
    $("article").value = md;
    $("article").select();
    status("Clipboard unavailable: the markdown is in the text box, selected; press Ctrl-C.");
  }
}

function kindOf(name) {
  const n = name.toLowerCase();
  if (n.endsWith(".html") || n.endsWith(".htm")) return "html";
  if (n.endsWith(".md") || n.endsWith(".markdown")) return "markdown";
  return "text";
}

async function loadFile(file) {
  const kind = kindOf(file.name);
  if (kind === "text" && !/\.txt$/i.test(file.name) && file.type && !file.type.startsWith("text/")) {
    showError(file.name + " is not a text file: drop a .txt, .md or .html file.");
    return;
  }
  $("article").value = await file.text();
  state.kind = kind;
  $("file-info").textContent = file.name + " (" + kind + ")";
  $("file-info").hidden = false;
  showError("");
}

function init() {
  // A key an earlier version of this page kept on disk: moved to this session, and gone from disk.
  const kept = localStorage.getItem(KEY_ITEM);
  if (kept !== null) {
    if (!sessionStorage.getItem(KEY_ITEM)) sessionStorage.setItem(KEY_ITEM, kept);
    localStorage.removeItem(KEY_ITEM);
  }
  const area = $("article");
  area.addEventListener("dragover", (e) => { e.preventDefault(); area.classList.add("drop"); });
  area.addEventListener("dragleave", () => area.classList.remove("drop"));
  area.addEventListener("drop", (e) => {
    e.preventDefault();
    area.classList.remove("drop");
    const file = e.dataTransfer.files[0];
    if (file) loadFile(file);
  });
  area.addEventListener("input", () => {
    if (!$("file-info").hidden && !area.value) { state.kind = "text"; $("file-info").hidden = true; }
  });
  $("file-button").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", (e) => { if (e.target.files[0]) loadFile(e.target.files[0]); });
  $("summarize").addEventListener("click", summarize);
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("copy").addEventListener("click", copyMarkdown);
  $("clear").addEventListener("click", () => {
    area.value = ""; state.kind = "text"; $("file-info").hidden = true; resetOutput();
    $("source").textContent = ""; status("");
  });
  checkHealth();
}

document.addEventListener("DOMContentLoaded", init);
