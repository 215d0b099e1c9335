// The wall: figures from the server's stream, drawn without any library.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const T = config.texts;
  const room = config.room;
  const COLORS = ["#ff5c4d", "#4dc3ff", "#ffd24d", "#7be08a", "#c68cff", "#ff9f43",
                  "#5ee6d0", "#f78fb3"];
  const SVG = "http://www.w3.org/2000/svg";
  const SHOWN_CALLERS = 9;  // three columns of three: what a projector shows legibly
  const $ = (id) => document.getElementById(id);
  let last = null;  // the figures shown
  let source = null;

  // A narrow no-break space groups thousands, as in the bot's messages.
  const number = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  const roomName = (name) => (name === "remote" ? T.remote : name);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  function bar(value, goal) {
    const outer = el("div", "bar");
    const inner = el("i");
    inner.style.width = Math.min(100, goal ? (100 * value) / goal : 0) + "%";
    outer.appendChild(inner);
    return outer;
  }

  function setStatic() {
    $("today-label").textContent = T.today;
    $("morning-label").textContent = T.morning;
    $("afternoon-label").textContent = T.afternoon;
    $("proxies-label").textContent = T.proxies;
    $("joined-label").textContent = T.joined;
    $("said-yes-label").textContent = T.said_yes;
    $("said-yes-note").textContent = T.said_yes_note;
    $("chart-title").textContent = T.per_hour + (room ? " · " + roomName(room) : "");
    $("top-title").textContent = T.top;
    if (room) {  // what follows is the campaign's, not the room's: say so
      $("tiles-title").textContent = T.whole_campaign;
      $("tiles-title").hidden = false;
    }
  }

  function drawCount(f) {
    const mine = room ? f.rooms.find((r) => r.name === room) ||
      { name: room, today: 0, morning: 0, afternoon: 0, goal: 0 } : f;
    const today = $("today");
    if (last && today.textContent !== number(mine.today)) {
      today.classList.add("bump");
      setTimeout(() => today.classList.remove("bump"), 900);
    }
    today.textContent = number(mine.today);
    $("morning").textContent = number(mine.morning);
    $("afternoon").textContent = number(mine.afternoon);
    const goal = $("goal");
    goal.replaceChildren();
    if (mine.goal) {
      goal.appendChild(el("span", "", fill(T.goal, { n: number(mine.goal) })));
      goal.appendChild(bar(mine.today, mine.goal));
    }
  }

  // Each room's bar; on a room's own screen, the whole campaign's instead.
  function drawRooms(f) {
    const box = $("rooms");
    box.replaceChildren();
    const rows = room ? [{ label: T.whole_campaign, today: f.today, goal: f.goal }]
      : f.rooms.map((r) => ({ label: roomName(r.name), today: r.today, goal: r.goal }));
    const top = Math.max(1, ...rows.map((r) => Math.max(r.goal, r.today)));
    rows.forEach((r) => {
      const item = el("div", "room");
      const line = el("div", "line");
      line.appendChild(el("span", "", r.label));
      const count = el("b", "", number(r.today));
      if (r.goal) count.appendChild(el("small", "", " / " + number(r.goal)));
      line.appendChild(count);
      item.appendChild(line);
      item.appendChild(bar(r.today, r.goal || top));
      box.appendChild(item);
    });
  }

  function drawTiles(f) {
    $("proxies").textContent = number(f.proxies_today);
    $("proxies-total").textContent = fill(T.proxies_total, { n: number(f.proxies_total) });
    $("joined").textContent = number(f.supporters_today);
    $("web-size").textContent = fill(T.web, { n: number(f.supporters_total) });
    $("from-calls").textContent = fill(T.from_calls, { n: number(f.calls_joined_today) });
    $("said-yes").textContent = number(f.said_yes);
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Calls per hour, one stacked bar an hour, a colour a room.
  function drawChart(f) {
    const box = $("chart");
    const width = Math.max(300, box.clientWidth), height = Math.max(150, box.clientHeight);
    const rooms = f.rooms.map((r) => r.name).filter((n) => !room || n === room);
    const hours = [];
    for (let h = f.first_hour; h < f.last_hour; h++) hours.push(h);
    Object.keys(f.hours).map(Number).forEach((h) => { if (!hours.includes(h)) hours.push(h); });
    hours.sort((a, b) => a - b);
    const total = (h) => rooms.reduce((s, r) => s + ((f.hours[h] || {})[r] || 0), 0);
    const peak = Math.max(1, ...hours.map(total));
    const fs = Math.max(14, Math.round(width / 50));  // read from the back of the room
    const left = fs * 3, bottom = fs * 1.6, legend = room ? 0 : fs * 1.8;
    const plotH = height - bottom - legend, step = (width - left) / Math.max(1, hours.length);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
                               "aria-label": T.per_hour });
    chart.appendChild(svg("text", { x: 0, y: legend + fs, "font-size": fs }, number(peak)));
    chart.appendChild(svg("line", { x1: left, x2: width, y1: legend + plotH, y2: legend + plotH,
                                    stroke: "#3a4256" }));
    hours.forEach((h, i) => {
      let y = legend + plotH;
      rooms.forEach((r, j) => {
        const n = (f.hours[h] || {})[r] || 0;
        if (!n) return;
        const hgt = (plotH * n) / peak;
        y -= hgt;
        chart.appendChild(svg("rect", { x: left + i * step + step * 0.12, y: y,
          width: step * 0.76, height: hgt, fill: COLORS[(room ? f.rooms.findIndex((x) => x.name === r) : j) % COLORS.length] }));
      });
      chart.appendChild(svg("text", { x: left + i * step + step / 2, y: height - fs * 0.3,
                                      "text-anchor": "middle", "font-size": fs }, h + "h"));
    });
    if (!room) {
      const keys = svg("g", { class: "legend" });
      let x = left;
      rooms.forEach((r, j) => {
        keys.appendChild(svg("rect", { x: x, y: fs * 0.2, width: fs, height: fs,
                                       fill: COLORS[j % COLORS.length] }));
        keys.appendChild(svg("text", { x: x + fs * 1.4, y: fs * 1.05, "font-size": fs },
                             roomName(r)));
        x += fs * (2.6 + 0.62 * roomName(r).length);
      });
      chart.appendChild(keys);
    }
    box.replaceChildren(chart);
  }

  function drawTop(f) {
    const list = $("top-list");
    list.replaceChildren();
    if (!f.top.length) {
      list.appendChild(el("li", "empty", T.no_calls));
      return;
    }
    f.top.slice(0, SHOWN_CALLERS).forEach((c) => {
      const item = el("li", "", c.name || T.a_volunteer);
      item.value = c.place;
      item.appendChild(el("b", "", number(c.calls)));
      list.appendChild(item);
    });
  }

  let hideMilestone = null;
  function celebrate(text) {
    const box = $("milestone");
    box.textContent = "🎉 " + text;
    box.hidden = false;
    clearTimeout(hideMilestone);
    hideMilestone = setTimeout(() => { box.hidden = true; }, 8000);
  }

  function show(f) {
    if (last && f.day === last.day && f.calls_milestone > last.calls_milestone && !room)
      celebrate(fill(T.milestone_calls, { n: number(f.calls_milestone) }));
    if (last && f.proxies_milestone > last.proxies_milestone)
      celebrate(fill(T.milestone_proxies, { n: number(f.proxies_milestone) }));
    $("wall").hidden = false;  // first: the chart is drawn to the size it is given
    drawCount(f); drawRooms(f); drawTiles(f); drawChart(f); drawTop(f);
    $("updated").textContent = fill(T.updated, { time: f.updated });
    $("status").textContent = "";
    last = f;
  }

  function gone() {
    if (source) source.close();
    $("wall").hidden = true;
    $("milestone").hidden = true;
    $("status").textContent = "";
    $("updated").textContent = "";
    const box = $("gone");
    box.textContent = T.gone;
    box.hidden = false;
  }

  function connect() {
    source = new EventSource(config.events);
    source.addEventListener("figures", (e) => show(JSON.parse(e.data)));
    source.addEventListener("gone", gone);
    source.onerror = () => {
      $("status").textContent = T.offline;
      if (source.readyState !== EventSource.CLOSED) return;  // it reconnects by itself
      // Refused outright (a 404 after a revoke, a 503 when too many screens): which?
      fetch(config.figures, { cache: "no-store" }).then((r) => {
        if (r.status === 404) gone(); else setTimeout(connect, 10000);
      }, () => setTimeout(connect, 5000));
    };
  }

  setStatic();
  window.addEventListener("resize", () => { if (last) drawChart(last); });
  connect();
})();
