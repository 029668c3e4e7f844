/**
 * The dashboard's only script besides htmx, served as /assets/wasmbed.js (no inline script,
 * so the Content-Security-Policy can forbid inline code). It opens one EventSource per page
 * (`data-stream` on <body>): `swap` events replace the inner HTML of elements by id (HTML the
 * server rendered with every value escaped), `rows` events a table's changed rows and cells,
 * `log` events append log lines built with textContent, so a log line is always text, never
 * markup. The stream's first events are what changed since the page was rendered, then `synced`
 * names the elements it writes. An action's answer swapped into one of them makes the page open
 * the stream again (see `streamed`).
 */
export const CLIENT_JS = `(function () {
  'use strict';
  var body = document.body;
  var url = body.getAttribute('data-stream');
  if (!url) return;
  // Ids of the elements the stream writes. The server sends a view's changes against what it
  // last sent, so an action's answer swapped into one of them (a table's rows after Retry) leaves
  // the page and the stream disagreeing for good: a row the answer dropped never comes back
  // while it does not change again. After such a swap the page opens the stream again, whose
  // first event is the whole view as the server has it (the page's URL names the view it was
  // rendered with, which the server forgets once the stream has started from it).
  var streamed = {};
  var es;
  function connect() {
    es = new EventSource(url);
    es.addEventListener('open', function () { body.setAttribute('data-live', 'on'); });
    es.addEventListener('error', function () { body.setAttribute('data-live', 'off'); });
    es.addEventListener('swap', onSwap);
    es.addEventListener('rows', onRows);
    es.addEventListener('synced', onSynced);
    es.addEventListener('problem', onProblem);
    es.addEventListener('log', onLog);
  }
  document.addEventListener('htmx:afterSwap', function (e) {
    var target = e.detail && e.detail.target;
    if (!target || !target.id || !streamed[target.id]) return;
    // An answer that swapped nothing (HX-Reswap: none; htmx still reports its target) left the
    // stream's view intact.
    var xhr = e.detail.xhr;
    if (xhr && xhr.getResponseHeader('HX-Reswap') === 'none') return;
    es.close();
    body.setAttribute('data-resyncs', String(Number(body.getAttribute('data-resyncs') || 0) + 1));
    connect();
  });
  function onSwap(e) {
    var fragments = JSON.parse(e.data);
    Object.keys(fragments).forEach(function (id) {
      streamed[id] = true;
      var el = document.getElementById(id);
      if (!el) return;
      // A form's error (data-notice) stays until the operator's next action replaces it.
      var notices = Array.prototype.slice.call(el.querySelectorAll(':scope > [data-notice]'));
      el.innerHTML = fragments[id];
      notices.reverse().forEach(function (n) { el.insertBefore(n, el.firstChild); });
      if (window.htmx) window.htmx.process(el);
    });
    body.setAttribute('data-live', 'on');
    body.setAttribute('data-updates', String(Number(body.getAttribute('data-updates') || 0) + 1));
  }
  // The page now shows the view as the server last sent it: these are the elements it writes.
  function onSynced(e) {
    JSON.parse(e.data).ids.forEach(function (id) { streamed[id] = true; });
    body.setAttribute('data-live', 'on');
    body.setAttribute('data-synced', String(Number(body.getAttribute('data-synced') || 0) + 1));
  }
  // Table rows keyed by id: only changed rows arrive; the rest of the table stays as it is. A row
  // whose cells alone changed (a heartbeat time) gets those cells ([data-cell=name]).
  function onRows(e) {
    var m = JSON.parse(e.data);
    streamed[m.target] = true;
    var tbody = document.getElementById(m.target);
    if (!tbody) return;
    // Rows without an id are placeholders ("no devices yet"); a form's error (data-notice) stays
    // until the operator's next submission re-renders the table.
    Array.prototype.slice.call(tbody.children).forEach(function (row) {
      if (!row.id && !row.hasAttribute('data-notice')) tbody.removeChild(row);
    });
    m.remove.forEach(function (id) { var el = document.getElementById(id); if (el) el.remove(); });
    Object.keys(m.upsert).forEach(function (id) {
      var tpl = document.createElement('template');
      tpl.innerHTML = m.upsert[id];
      var row = tpl.content.firstElementChild;
      if (!row) return;
      var old = document.getElementById(id);
      if (old) old.replaceWith(row); else tbody.appendChild(row);
      if (window.htmx) window.htmx.process(row);
    });
    Object.keys(m.cells || {}).forEach(function (id) {
      var row = document.getElementById(id);
      if (!row) return;
      Object.keys(m.cells[id]).forEach(function (name) {
        var cell = row.querySelector('[data-cell="' + name + '"]');
        if (cell) cell.innerHTML = m.cells[id][name];
      });
    });
    if (m.order) m.order.forEach(function (id) { var el = document.getElementById(id); if (el) tbody.appendChild(el); });
    if (m.empty !== undefined && tbody.children.length === 0) tbody.innerHTML = m.empty;
    body.setAttribute('data-updates', String(Number(body.getAttribute('data-updates') || 0) + 1));
  }
  function onProblem(e) {
    var box = document.getElementById('live-problem');
    if (box) box.textContent = JSON.parse(e.data).message;
  }
  function onLog(e) {
    var box = document.getElementById('log-lines');
    if (!box) return;
    var stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 20;
    var empty = box.querySelector('.log-empty');
    if (empty) empty.remove();
    JSON.parse(e.data).forEach(function (entry) {
      var line = document.createElement('div');
      line.className = 'log-line ' + entry.kind;
      line.setAttribute('data-log-id', String(entry.id));
      var t = document.createElement('span');
      t.className = 'log-time';
      t.textContent = String(entry.time).slice(11, 23);
      var src = document.createElement('span');
      src.className = 'log-src';
      src.textContent = entry.appId || 'uart';
      var msg = document.createElement('span');
      msg.className = 'log-msg';
      msg.textContent = entry.message;
      line.appendChild(t);
      line.appendChild(src);
      line.appendChild(msg);
      box.appendChild(line);
    });
    while (box.children.length > 1000) box.removeChild(box.firstChild);
    if (stick) box.scrollTop = box.scrollHeight;
  }
  connect();
})();
`;
