// The sandbox's chat page: one phone-sized Telegram chat per person, live from the stand-in.
// The bot's texts are drawn from the entities Telegram parsed, as DOM nodes: never as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const query = new URLSearchParams(location.search);
  let S = null; // the state: {lang, texts, bot, wall_url, people: [...]}
  let current = null; // the id of the person whose chat is shown
  let replyTo = null; // the message the person answers
  let loading = null; // the state's fetch; events wait for it
  let keyboardHidden = false;
  let stick = true; // the chat follows its newest message unless the person scrolled up
  const unread = {};

  const t = (key) => (S && S.texts[key]) || key;
  const person = (id) => S && S.people.find((p) => p.id === Number(id));
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  // ---- talking to the sandbox ---------------------------------------------------------------
  async function post(path, body) {
    let response;
    try {
      response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body) });
    } catch (error) {
      toast(t("offline"));
      return null;
    }
    if (!response.ok) {
      let reason = response.statusText;
      try { reason = (await response.json()).error || reason; } catch (error) { /* not JSON */ }
      toast(reason);
      return null;
    }
    return response.json();
  }

  async function load() {
    const lang = query.get("lang") ? "?lang=" + encodeURIComponent(query.get("lang")) : "";
    loading = fetch("/sandbox/state" + lang).then((r) => r.json());
    S = await loading;
    loading = null;
    document.documentElement.lang = S.lang;
    document.title = "Toile — " + t("title");
    $("title").textContent = t("title");
    $("start-again").textContent = t("start_again");
    $("text").placeholder = t("message");
    $("wall").hidden = !S.wall_url;
    if (S.wall_url) { $("wall").href = S.wall_url; $("wall").textContent = t("wall"); }
    const wanted = Number(location.hash.slice(1));
    if (!person(current)) current = person(wanted) ? wanted : S.people[0].id;
    renderTabs();
    renderChat();
  }

  function say(text) {
    const body = { person: current, text };
    if (replyTo) body.reply_to = replyTo;
    setReply(null);
    $("menu-list").hidden = true;
    return post("/sandbox/send", body);
  }

  // ---- tabs ------------------------------------------------------------------------------------
  function renderTabs() {
    const tabs = $("tabs");
    tabs.replaceChildren();
    for (const p of S.people) {
      const tab = el("button", "tab", p.first_name);
      tab.type = "button";
      tab.setAttribute("role", "tab");
      tab.dataset.person = p.id;
      tab.setAttribute("aria-selected", String(p.id === current));
      if (unread[p.id]) tab.append(el("span", "unread", String(unread[p.id])));
      tab.append(el("small", "", t(p.role)));
      tab.onclick = () => switchTo(p.id);
      tabs.append(tab);
    }
    const add = el("button", "tab new", "+");
    add.type = "button";
    add.title = t("new_person");
    add.setAttribute("aria-label", t("new_person"));
    add.id = "new-person";
    add.onclick = newPerson;
    tabs.append(add);
  }

  function switchTo(id) {
    current = id;
    unread[id] = 0;
    setReply(null);
    history.replaceState(null, "", location.pathname + location.search + "#" + id);
    renderTabs();
    renderChat();
  }

  // ---- a chat ----------------------------------------------------------------------------------
  function renderChat() {
    const p = person(current);
    const chat = $("chat");
    chat.replaceChildren();
    $("chat-sub").textContent = t("bot") + " · " + p.first_name;
    for (const hint of p.hints || []) chat.append(renderHint(hint));
    for (const m of p.messages) chat.append(renderMessage(m));
    if (!p.messages.length) {
      const start = el("button", "start-button", t("start"));
      start.type = "button";
      start.id = "start";
      start.onclick = () => say("/start");
      chat.append(start);
    }
    renderComposer(p);
    chat.scrollTop = chat.scrollHeight;
  }

  function renderHint(hint) {
    const box = el("div", "hint", hint.from ? t("shared").replace("{name}", hint.from) : hint.text);
    if (hint.from && hint.text) box.append(el("div", "", hint.text));
    if (hint.link) box.append(link(hint.link, hint.link));
    return box;
  }

  function renderMessage(m) {
    const row = el("div", "row" + (m.mine ? " mine" : ""));
    row.dataset.id = m.id;
    const bubble = el("div", "bubble" + (m.kind === "photo" ? " photo" : ""));
    if (m.reply_to) {
      const quote = el("div", "quote", m.reply_to.text || "…");
      quote.onclick = () => {
        const target = $("chat").querySelector(`[data-id="${m.reply_to.id}"]`);
        if (target) target.scrollIntoView({ block: "center", behavior: "smooth" });
      };
      bubble.append(quote);
    }
    if (m.kind === "photo") {
      const img = el("img");
      img.src = m.file.url;
      img.alt = m.text || "photo";
      img.onclick = () => window.open(m.file.url, "_blank", "noopener");
      img.onload = () => { if (stick) $("chat").scrollTop = $("chat").scrollHeight; };
      bubble.append(img);
    } else if (m.kind === "document") {
      const doc = el("a", "document");
      doc.href = m.file.url;
      doc.download = m.file.name;
      const info = el("div");
      info.append(el("div", "name", m.file.name),
        el("div", "size", Math.max(1, Math.round(m.file.size / 1024)) + " KB · " + t("download")));
      doc.append(el("div", "icon", "📄"), info);
      bubble.append(doc);
    }
    const body = m.kind === "text" ? bubble : el("div", "caption");
    body.append(formatted(m.text, m.entities));
    if (body !== bubble && m.text) bubble.append(body);
    bubble.append(meta(m));
    if (!m.mine) {
      const reply = el("button", "reply-action", "↩");
      reply.type = "button";
      reply.title = t("reply");
      reply.onclick = () => setReply(m);
      bubble.append(reply);
    }
    row.append(bubble);
    if (m.buttons.length) row.append(inlineKeyboard(m));
    return row;
  }

  function meta(m) {
    const at = new Date(m.date * 1000);
    const time = String(at.getHours()).padStart(2, "0") + ":" + String(at.getMinutes()).padStart(2, "0");
    return el("span", "meta", (m.edited ? t("edited") + " " : "") + time);
  }

  // ---- formatting: the entities, as nodes ------------------------------------------------------
  function formatted(text, entities) {
    const root = document.createDocumentFragment();
    const sorted = [...entities].sort((a, b) => a.offset - b.offset || b.length - a.length);
    place(root, text, 0, text.length, sorted);
    return root;
  }

  function place(parent, text, start, end, entities) {
    let at = start;
    let i = 0;
    while (i < entities.length) {
      const e = entities[i];
      const from = Math.max(e.offset, at);
      const to = Math.min(e.offset + e.length, end);
      let j = i + 1;
      while (j < entities.length && entities[j].offset < e.offset + e.length) j += 1;
      if (from < to) {
        if (from > at) parent.append(text.slice(at, from));
        const node = entityNode(e, text.slice(from, to));
        place(node, text, from, to, entities.slice(i + 1, j));
        parent.append(node);
        at = to;
      }
      i = j;
    }
    if (at < end) parent.append(text.slice(at, end));
  }

  function entityNode(e, content) {
    const tags = { bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code",
      pre: "pre", blockquote: "blockquote", expandable_blockquote: "blockquote" };
    if (tags[e.type]) return el(tags[e.type]);
    if (e.type === "text_link") return link(e.url, null);
    if (e.type === "url") return link(/^[a-z]+:/i.test(content) ? content : "https://" + content, null);
    if (e.type === "bot_command") {
      const command = el("span", "command");
      command.onclick = () => say(content);
      return command;
    }
    if (e.type === "spoiler") {
      const spoiler = el("span", "spoiler");
      spoiler.onclick = () => spoiler.classList.add("shown");
      return spoiler;
    }
    return el("span");
  }

  function link(url, text) {
    const a = el("a", "", text === null ? undefined : text);
    a.href = /^(https?|tg):/i.test(url) ? url : "#";
    a.rel = "noopener";
    a.target = "_blank";
    a.onclick = (event) => { event.preventDefault(); openUrl(url); };
    return a;
  }

  // ---- links and buttons -----------------------------------------------------------------------
  function startPayload(url) {
    let parsed;
    try { parsed = new URL(url); } catch (error) { return null; }
    const bot = S.bot.toLowerCase();
    const web = /^(www\.)?(t|telegram)\.me$/i.test(parsed.hostname) && parsed.protocol.startsWith("http")
      && parsed.pathname.replace(/\/$/, "").toLowerCase() === "/" + bot;
    const app = parsed.protocol === "tg:" && (parsed.searchParams.get("domain") || "").toLowerCase() === bot;
    if (!web && !app) return null;
    return parsed.searchParams.get("start") || "";
  }

  function openUrl(url) {
    const payload = startPayload(url);
    if (payload !== null) {
      // Telegram opens the bot's chat as the person who tapped, and starts it with the payload.
      if (payload || !person(current).messages.length) say(payload ? "/start " + payload : "/start");
      return;
    }
    let parsed = null;
    try { parsed = new URL(url); } catch (error) { /* shown as it is */ }
    if (parsed && /^(t|telegram)\.me$/i.test(parsed.hostname) && parsed.pathname === "/share/url") {
      shareDialog(parsed.searchParams.get("url") || "", parsed.searchParams.get("text") || "");
    } else if (parsed && /^https?:$/.test(parsed.protocol)) {
      window.open(url, "_blank", "noopener");
    } else {
      toast(t("opens_outside") + ": " + url);
    }
  }

  function inlineKeyboard(m) {
    const keyboard = el("div", "keyboard");
    for (const row of m.buttons) {
      const line = el("div", "krow");
      for (const b of row) {
        const button = el("button", "ibutton" + (b.url ? " link" : ""), b.text);
        button.type = "button";
        button.onclick = () => pressed(m, b, button);
        line.append(button);
      }
      keyboard.append(line);
    }
    return keyboard;
  }

  function pressed(m, b, button) {
    if (b.data !== undefined) {
      button.classList.add("pending");
      setTimeout(() => button.classList.remove("pending"), 3000);
      post("/sandbox/press", { person: current, message: m.id, data: b.data });
    } else if (b.url) {
      openUrl(b.url);
    } else if (b.copy !== undefined) {
      copy(b.copy);
    }
  }

  function copy(text) {
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(() => toast(t("copied")), () => {});
  }

  // ---- the composer: text, reply, menu, reply keyboard -----------------------------------------
  function renderComposer(p) {
    $("menu-button").hidden = !p.menu.length;
    $("menu-button").title = t("menu");
    $("menu-list").hidden = true;
    const keyboard = $("reply-keyboard");
    keyboard.replaceChildren();
    $("keyboard-toggle").hidden = !p.keyboard;
    keyboard.hidden = !p.keyboard || keyboardHidden;
    for (const row of p.keyboard || []) {
      const line = el("div", "krow");
      for (const text of row) {
        const button = el("button", "kbutton", text);
        button.type = "button";
        button.onclick = () => say(text);
        line.append(button);
      }
      keyboard.append(line);
    }
  }

  function renderMenu(filter) {
    const list = $("menu-list");
    list.replaceChildren();
    for (const c of person(current).menu) {
      if (filter && !("/" + c.command).startsWith(filter)) continue;
      const item = el("button", "menu-item");
      item.type = "button";
      item.append(el("b", "", "/" + c.command), el("span", "", c.description));
      item.onclick = () => { $("text").value = ""; say("/" + c.command); };
      list.append(item);
    }
    list.hidden = !list.children.length;
  }

  function setReply(m) {
    replyTo = m ? m.id : null;
    $("reply-bar").hidden = !m;
    $("reply-quote").textContent = m ? (m.text || "…").slice(0, 120) : "";
    if (m) $("text").focus();
  }

  // ---- toasts and dialogs ----------------------------------------------------------------------
  let toastTimer = null;
  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 2800);
  }

  function dialog(content, actions) {
    const box = $("dialog-box");
    box.replaceChildren(...content);
    const row = el("div", "actions");
    for (const [label, act] of actions) {
      const button = el("button", "", label);
      button.type = "button";
      button.onclick = () => { $("dialog").hidden = true; if (act) act(); };
      row.append(button);
    }
    box.append(row);
    $("dialog").hidden = false;
    return box;
  }

  function alertBox(text) { dialog([el("div", "alert-text", text)], [[t("ok"), null]]); }

  function newPerson() {
    const input = el("input");
    input.maxLength = 64;
    input.id = "new-name";
    const add = async () => {
      const name = input.value.trim();
      if (!name) return;
      const made = await post("/sandbox/people", { first_name: name, language_code: S.lang });
      if (made) { await load(); switchTo(made.id); }
    };
    dialog([el("div", "", t("new_person_prompt")), input], [[t("cancel"), null], [t("add"), add]]);
    input.onkeydown = (event) => { if (event.key === "Enter") { $("dialog").hidden = true; add(); } };
    input.focus();
  }

  function shareDialog(url, text) {
    const others = S.people.filter((p) => p.id !== current);
    const sender = current;
    const actions = others.map((p) => [p.first_name, async () => {
      if (await post("/sandbox/share", { person: sender, to: p.id, link: url, text })) {
        await load();
        toast("✓ " + p.first_name);
      }
    }]);
    actions.push([t("cancel"), null]);
    dialog([el("div", "", t("share_with")), el("div", "share-text", text + "\n" + url)], actions);
  }

  // ---- live: the stream of changes ---------------------------------------------------------
  function upsert(p, m) {
    const index = p.messages.findIndex((old) => old.id === m.id);
    const fresh = index < 0;
    if (fresh) {
      p.messages.push(m);
      p.messages.sort((a, b) => a.id - b.id);
    } else {
      p.messages[index] = m;
    }
    if (p.id !== current) return fresh;
    const chat = $("chat");
    const near = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 160;
    const node = renderMessage(m);
    const old = chat.querySelector(`.row[data-id="${m.id}"]`);
    if (old) {
      old.replaceWith(node);
    } else {
      const start = $("start");
      if (start) start.remove();
      const later = [...chat.querySelectorAll(".row")].find((r) => Number(r.dataset.id) > m.id);
      chat.insertBefore(node, later || null);
    }
    if (near || m.mine) chat.scrollTop = chat.scrollHeight;
    return fresh;
  }

  function handle(event) {
    if (event.type === "reset") { for (const id in unread) unread[id] = 0; load(); return; }
    if (event.type === "menus") {
      for (const p of S.people) p.menu = event.menus[p.id] || [];
      renderComposer(person(current));
      return;
    }
    const p = person(event.chat);
    if (!p) return;
    if (event.type === "message") {
      if (upsert(p, event.message) && p.id !== current && !event.message.mine) {
        unread[p.id] = (unread[p.id] || 0) + 1;
        renderTabs();
      }
    } else if (event.type === "deleted") {
      p.messages = p.messages.filter((m) => m.id !== event.id);
      if (p.id === current) {
        const node = $("chat").querySelector(`.row[data-id="${event.id}"]`);
        if (node) node.remove();
      }
    } else if (event.type === "keyboard") {
      p.keyboard = event.keyboard;
      if (p.id === current) renderComposer(p);
    } else if (event.type === "toast" && p.id === current) {
      if (event.alert) alertBox(event.text); else toast(event.text);
    }
  }

  function connect() {
    const source = new EventSource("/sandbox/events");
    source.onopen = () => { $("offline").hidden = true; load(); }; // what was missed is in the state
    source.onerror = () => { $("offline").hidden = false; $("offline").textContent = t("offline"); };
    source.onmessage = async (message) => {
      const event = JSON.parse(message.data);
      if (loading) await loading.catch(() => null);
      if (S) handle(event);
    };
  }

  // ---- wiring ------------------------------------------------------------------------------
  $("composer").onsubmit = (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (!text.trim()) return;
    $("text").value = "";
    say(text);
  };
  $("text").oninput = () => {
    const value = $("text").value;
    if (value.startsWith("/") && !value.includes(" ")) renderMenu(value); else $("menu-list").hidden = true;
  };
  $("menu-button").onclick = () => {
    if ($("menu-list").hidden) renderMenu(""); else $("menu-list").hidden = true;
  };
  $("keyboard-toggle").onclick = () => {
    keyboardHidden = !keyboardHidden;
    $("reply-keyboard").hidden = keyboardHidden;
  };
  $("chat").onscroll = () => {
    const chat = $("chat");
    stick = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 160;
  };
  $("reply-cancel").onclick = () => setReply(null);
  $("start-again").onclick = () => dialog([el("div", "", t("start_again_confirm"))], [
    [t("cancel"), null],
    [t("start_again"), async () => { if (await post("/sandbox/reset", {})) await load(); }],
  ]);
  connect();
})();
