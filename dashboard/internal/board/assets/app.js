// The futures dashboard page. Hand-written, no dependency, no build step.
//
// It opens one server-sent event stream (api/v1/events). The first frame
// ("full") is the whole view; each later one ("delta") carries what changed,
// numbered: a frame missed means starting again from a full one. Between
// frames the page only moves time along: running calls grow, ages tick.
// Every URL is relative, so the dashboard works under any prefix.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_CALLS = 5000; // calls the page keeps for the task stream

  const st = {
    seq: -1,
    offset: 0, // server clock minus this one, in ms
    totals: null,
    tasks: new Map(), // id → task
    workers: new Map(), // id → worker
    calls: new Map(), // "worker:call" → call
    failures: new Map(), // id → failure group
  };

  const serverNow = () => Date.now() + st.offset;

  // ---- the stream of frames ----

  let source = null;

  function connect() {
    if (source) source.close();
    source = new EventSource('api/v1/events');
    source.addEventListener('full', (ev) => apply(JSON.parse(ev.data), true));
    source.addEventListener('delta', (ev) => apply(JSON.parse(ev.data), false));
    source.onerror = () => setConn('reconnecting'); // EventSource retries by itself
  }

  function setConn(state) {
    const el = $('conn');
    if (el.dataset.conn === state) return;
    el.dataset.conn = state;
    el.textContent = { live: 'live', reconnecting: 'reconnecting…', unsupported: 'newer server: reload' }[state] || state;
  }

  function apply(m, full) {
    if (m.version !== 1) {
      setConn('unsupported');
      return;
    }
    if (!full && m.seq !== st.seq + 1) {
      connect(); // a frame was missed: start again from the whole view
      return;
    }
    st.seq = m.seq;
    st.offset = m.now - Date.now();
    if (full) {
      st.tasks.clear();
      st.workers.clear();
      st.calls.clear();
      st.failures.clear();
      clearStream();
    }
    st.totals = m.totals;
    for (const t of m.tasks) st.tasks.set(t.id, t);
    for (const w of m.workers) st.workers.set(w.id, w);
    for (const id of m.removedWorkers || []) st.workers.delete(id);
    for (const c of m.calls) st.calls.set(c.worker + ':' + c.call, c);
    for (const f of m.failures) {
      const old = st.failures.get(f.id);
      if (f.stack === undefined && old) f.stack = old.stack;
      st.failures.set(f.id, f);
    }
    trimCalls();
    setConn('live');
    render();
  }

  // trimCalls keeps at most MAX_CALLS calls, dropping the oldest ended.
  function trimCalls() {
    let excess = st.calls.size - MAX_CALLS;
    if (excess <= 0) return;
    for (const [key, c] of st.calls) {
      if (excess <= 0) break;
      if (c.end !== undefined) {
        st.calls.delete(key);
        removeBar(key);
        excess--;
      }
    }
  }

  // ---- formatting ----

  const fmtInt = (n) => n.toLocaleString('en-US');

  function fmtDur(ms) {
    if (!(ms > 0)) return '–';
    if (ms < 1) return Math.round(ms * 1000) + ' µs';
    if (ms < 10) return ms.toFixed(2) + ' ms';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    if (ms < 3600000) return (ms / 60000).toFixed(1) + ' min';
    return (ms / 3600000).toFixed(1) + ' h';
  }

  function fmtAgo(ms) {
    if (ms < 1000) return 'now';
    return fmtDur(ms) + ' ago';
  }

  const fmtRate = (r) => (r >= 10 ? fmtInt(Math.round(r)) : r.toFixed(1));

  // colour gives each task name its hue, the same on every page load.
  const colours = new Map();
  function colour(name) {
    let c = colours.get(name);
    if (!c) {
      let h = 2166136261;
      for (let i = 0; i < name.length; i++) {
        h ^= name.charCodeAt(i);
        h = Math.imul(h, 16777619);
      }
      c = 'hsl(' + (((h >>> 0) % 360 + 360) % 360) + ' 62% 52%)';
      colours.set(name, c);
    }
    return c;
  }

  const taskName = (id) => (st.tasks.get(id) || { name: '?' }).name;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setCell(row, i, text) {
    const c = row.cells[i];
    if (c.textContent !== text) c.textContent = text;
  }

  // ---- rendering ----

  function render() {
    renderTotals();
    renderTasks();
    renderWorkers();
    renderFailures();
    layoutLanes();
    drawStream();
  }

  function renderTotals() {
    const t = st.totals;
    if (!t) return;
    for (const e of document.querySelectorAll('[data-total]')) {
      const k = e.dataset.total;
      e.textContent = k === 'rate' ? fmtRate(t.rate) : fmtInt(t[k]);
    }
  }

  const taskRows = new Map();

  function renderTasks() {
    const body = $('task-rows');
    $('no-tasks').hidden = st.tasks.size > 0;
    const legend = $('legend');
    for (const t of st.tasks.values()) {
      let row = taskRows.get(t.id);
      if (!row) {
        row = body.insertRow();
        const name = row.insertCell();
        name.className = 'name';
        name.append(el('span', 'dot'), el('span', 'task-name', t.name));
        name.firstChild.style.background = colour(t.name);
        name.title = t.name;
        const prog = row.insertCell();
        const bar = el('div', 'bar');
        for (const k of ['done', 'failed', 'running', 'queued', 'cancelled']) bar.append(el('span', k));
        prog.append(bar);
        for (let i = 0; i < 8; i++) row.insertCell().className = 'num';
        row.dataset.task = t.name;
        taskRows.set(t.id, row);
        const key = el('span');
        key.append(el('span', 'dot'), document.createTextNode(t.name.replace(/^.*\//, '')));
        key.firstChild.style.background = colour(t.name);
        legend.append(key);
      }
      for (const k of ['queued', 'running', 'done', 'failed', 'cancelled']) row.dataset[k] = t[k];
      const total = t.queued + t.running + t.done + t.failed + t.cancelled;
      const segs = row.cells[1].firstChild.children;
      ['done', 'failed', 'running', 'queued', 'cancelled'].forEach((k, i) => {
        segs[i].style.width = (total > 0 ? (100 * t[k]) / total : 0) + '%';
      });
      row.cells[1].title = fmtInt(t.done + t.failed) + ' of ' + fmtInt(total) + ' finished';
      setCell(row, 2, fmtInt(t.queued));
      setCell(row, 3, fmtInt(t.running));
      setCell(row, 4, fmtInt(t.done));
      setCell(row, 5, fmtInt(t.failed));
      setCell(row, 6, fmtInt(t.cancelled));
      setCell(row, 7, fmtRate(t.rate));
      setCell(row, 8, fmtDur(t.meanMs));
      setCell(row, 9, fmtDur(t.p95Ms));
      row.cells[8].title = row.cells[9].title = 'from ' + fmtInt(t.timed) + ' timed calls';
    }
  }

  const workerRows = new Map();

  function renderWorkers() {
    const body = $('worker-rows');
    $('no-workers').hidden = st.workers.size > 0;
    for (const [id, row] of workerRows) {
      if (!st.workers.has(id)) {
        row.remove();
        workerRows.delete(id);
      }
    }
    for (const w of st.workers.values()) {
      let row = workerRows.get(w.id);
      if (!row) {
        row = body.insertRow();
        for (let i = 0; i < 10; i++) row.insertCell();
        row.cells[0].className = 'name';
        for (const i of [2, 3, 5, 6, 7, 8]) row.cells[i].className = 'num';
        row.cells[4].append(el('span', 'state'));
        row.cells[9].className = 'why';
        row.dataset.worker = w.name;
        workerRows.set(w.id, row);
      }
      row.dataset.state = w.state;
      row.dataset.running = w.running;
      row.dataset.done = w.done;
      row.dataset.failed = w.failed;
      setCell(row, 0, w.name);
      setCell(row, 1, w.host);
      setCell(row, 2, w.pid ? String(w.pid) : '');
      setCell(row, 3, w.slots ? String(w.slots) : '');
      const state = row.cells[4].firstChild;
      state.className = 'state ' + w.state;
      state.textContent = w.state;
      setCell(row, 5, fmtInt(w.running));
      setCell(row, 6, fmtInt(w.done));
      setCell(row, 7, fmtInt(w.failed));
      setCell(row, 9, w.reason);
    }
    tickAges();
  }

  function tickAges() {
    const now = serverNow();
    for (const [id, row] of workerRows) {
      const w = st.workers.get(id);
      if (w) setCell(row, 8, fmtAgo(now - w.heard));
    }
  }

  const failureCards = new Map();

  function renderFailures() {
    const list = $('failure-list');
    $('no-failures').hidden = st.failures.size > 0;
    for (const f of st.failures.values()) {
      let card = failureCards.get(f.id);
      if (!card) {
        card = el('div', 'failure');
        const head = el('div', 'head');
        head.append(el('span', 'count'), el('span', 'task'), el('span', 'when'));
        card.append(head, el('pre', 'message'));
        list.append(card);
        failureCards.set(f.id, card);
      }
      const name = taskName(f.task);
      card.dataset.task = name;
      card.dataset.count = f.count;
      const [count, task, when] = card.firstChild.children;
      count.textContent = fmtInt(f.count) + ' ×';
      task.textContent = name;
      when.textContent = 'last at ' + new Date(f.last - st.offset).toLocaleTimeString();
      const msg = card.children[1];
      if (msg.textContent !== f.message) msg.textContent = f.message;
      if (f.stack && !card.querySelector('details')) {
        const d = el('details');
        d.append(el('summary', '', 'stack of one'), el('pre', 'stack', f.stack));
        card.append(d);
      }
    }
  }

  // ---- the task stream ----

  const tracks = new Map(); // "worker:lane" → track element
  const bars = new Map(); // "worker:call" → bar element
  let laneShape = '';

  // layoutLanes makes one row per worker slot (more if calls overlapped
  // more than its slots), rebuilding only when the shape changes.
  function layoutLanes() {
    const ws = [...st.workers.values()].sort((a, b) => a.id - b.id);
    const shape = ws.map((w) => w.id + 'x' + w.lanes + (w.state === 'joined' ? '' : 'g')).join(',');
    if (shape === laneShape) return;
    laneShape = shape;
    const box = $('lanes');
    box.replaceChildren();
    tracks.clear();
    for (const w of ws) {
      for (let i = 0; i < w.lanes; i++) {
        const row = el('div', 'lane' + (i === 0 ? ' first' : '') + (w.state === 'joined' ? '' : ' gone'));
        row.dataset.worker = w.name;
        row.dataset.lane = i;
        const label = el('div', 'label', w.lanes > 1 ? w.name + ' · ' + (i + 1) : w.name);
        label.title = w.name + (w.host ? ' on ' + w.host : '');
        const track = el('div', 'track');
        row.append(label, track);
        box.append(row);
        tracks.set(w.id + ':' + i, track);
      }
    }
    for (const [key, bar] of bars) {
      const c = st.calls.get(key);
      const track = c && tracks.get(c.worker + ':' + Math.max(c.lane, 0));
      if (track) track.append(bar);
      else removeBar(key);
    }
  }

  function removeBar(key) {
    const b = bars.get(key);
    if (b) {
      b.remove();
      bars.delete(key);
    }
  }

  function clearStream() {
    for (const b of bars.values()) b.remove();
    bars.clear();
  }

  // drawStream places every call of the window: x is time, the right edge
  // is now; a running call ends at now, so it grows as time goes.
  function drawStream() {
    const span = +$('window').value;
    const now = serverNow();
    const t0 = now - span;
    $('axis-left').textContent = '−' + fmtDur(span);
    for (const [key, c] of st.calls) {
      const end = c.end === undefined ? now : c.end;
      if (end < t0) {
        removeBar(key);
        continue;
      }
      let bar = bars.get(key);
      if (!bar) {
        const track = tracks.get(c.worker + ':' + Math.max(c.lane, 0));
        if (!track) continue;
        bar = el('div', 'call');
        bar.dataset.call = key;
        bar.dataset.task = taskName(c.task);
        bar.style.background = colour(bar.dataset.task);
        track.append(bar);
        bars.set(key, bar);
      }
      const state = c.end === undefined ? 'running' : c.lost ? 'lost' : c.failed > 0 ? 'failed' : 'done';
      if (bar.dataset.state !== state) bar.dataset.state = state;
      const left = Math.max(c.start, t0);
      bar.style.left = ((100 * (left - t0)) / span).toFixed(3) + '%';
      bar.style.width = ((100 * (end - left)) / span).toFixed(3) + '%';
      bar.title = bar.dataset.task + ' · call ' + c.call + (c.items > 1 ? ' · ' + c.items + ' items' : '') + ' · ' + fmtDur(end - c.start) + ' · ' + state;
    }
  }

  setInterval(() => {
    if (document.hidden || st.seq < 0) return;
    drawStream();
    tickAges();
  }, 100);
  $('window').addEventListener('change', drawStream);

  connect();
})();
