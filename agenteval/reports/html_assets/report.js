// agenteval HTML report: the run summary, and one trace's step DAG at #trace=ID (&step=STEP).
// Every piece of trace text goes through textContent or setAttribute: it is data, never markup.
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';
  var NODE_W = 176, NODE_H = 42;
  var VERDICTS = ['pass', 'direct', 'cascade', 'judge_error', 'not_assessable', 'skipped'];
  var DATA = JSON.parse(document.getElementById('agenteval-data').textContent);
  var details = {};

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'cls') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    return node;
  }
  function pill(text, cls) { return el('span', {cls: 'pill ' + cls, text: text}); }
  function fmt(score) { return score === null || score === undefined ? '-' : Number(score).toFixed(1); }
  function codeLabel(code) { var n = DATA.codeNames[code]; return n ? code + ' ' + n : code; }
  function hashParams() { return new URLSearchParams(location.hash.replace(/^#/, '')); }
  function traceHref(runKey, id, step) {
    var p = new URLSearchParams();
    p.set('trace', id);
    if (runKey !== DATA.runs[DATA.runs.length - 1].key) p.set('run', runKey);
    if (step) p.set('step', step);
    return '#' + p.toString();
  }
  function runByKey(key) {
    for (var i = 0; i < DATA.runs.length; i++) if (DATA.runs[i].key === key) return i;
    return DATA.runs.length - 1;
  }

  // ---- summary -------------------------------------------------------------------------------
  function optionsOf(rows, pick) {
    var seen = {};
    rows.forEach(function (r) { pick(r).forEach(function (v) { seen[v] = true; }); });
    return Object.keys(seen).sort();
  }
  function select(name, label, values, labeller) {
    var s = el('select', {name: name, 'aria-label': label}, el('option', {value: '', text: 'all'}));
    values.forEach(function (v) { s.appendChild(el('option', {value: v, text: labeller ? labeller(v) : v})); });
    return el('label', null, label, s);
  }
  function card(n, label, cls) { return el('div', {cls: 'card ' + (cls || '')}, el('div', {cls: 'n', text: String(n)}), el('div', {cls: 'l', text: label})); }
  function countTable(title, counts, labeller) {
    var keys = Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a] || (a < b ? -1 : 1); });
    if (!keys.length) return null;
    var max = counts[keys[0]];
    var t = el('table', null);
    keys.forEach(function (k) {
      t.appendChild(el('tr', null, el('td', {text: labeller ? labeller(k) : k}), el('td', {cls: 'mono', text: String(counts[k])}),
        el('td', null, el('span', {cls: 'bar', style: 'width:' + Math.max(4, 120 * counts[k] / max) + 'px'}))));
    });
    return el('div', null, el('h2', {text: title}), t);
  }

  function renderComparison(box) {
    var c = DATA.comparison;
    if (!c) return;
    var pct = function (v) { return v === null || v === undefined ? '-' : (100 * v).toFixed(1) + '%'; };
    box.appendChild(el('h2', {text: 'Comparison'}));
    box.appendChild(el('p', null, 'Trace failure rate ', el('b', {text: pct(c.overall.base) + ' \u2192 ' + pct(c.overall.candidate)}),
      ' (', el('span', {cls: 'st-' + c.overall.status, text: c.overall.status.replace(/_/g, ' ')}), ')'));
    var t = el('table', {cls: 'traces'}, el('tr', null, el('th', {text: 'step type'}), el('th', {text: 'failure rate'}), el('th', {text: ''}), el('th', {text: 'mean score'}), el('th', {text: ''})));
    c.step_types.forEach(function (s) {
      t.appendChild(el('tr', null, el('td', {text: s.step_type}), el('td', {text: pct(s.failure_rate.base) + ' \u2192 ' + pct(s.failure_rate.candidate)}),
        el('td', {cls: 'st-' + s.failure_rate.status, text: s.failure_rate.status.replace(/_/g, ' ')}), el('td', {text: fmt(s.mean_score.base) + ' \u2192 ' + fmt(s.mean_score.candidate)}),
        el('td', {cls: 'st-' + s.mean_score.status, text: s.mean_score.status.replace(/_/g, ' ')})));
    });
    box.appendChild(t);
    [['New failures', c.new_failures, 'candidate'], ['Fixed', c.fixed_failures, 'base'], ['Root cause changed', c.root_cause_changes, 'candidate']].forEach(function (group) {
      if (!group[1].length) return;
      var list = el('table', {cls: 'traces'}, el('tr', null, el('th', {text: 'trace'}), el('th', {text: 'before'}), el('th', {text: 'now'}), el('th', {text: 'root cause before'}), el('th', {text: 'root cause now'})));
      group[1].forEach(function (ch) {
        list.appendChild(el('tr', null, el('td', null, el('a', {href: traceHref(group[2], ch.trace_id), text: ch.trace_id})),
          el('td', null, pill(ch.base_status, ch.base_status)), el('td', null, pill(ch.candidate_status, ch.candidate_status)),
          el('td', {text: ch.base_root_causes.join(', ') || '-'}), el('td', {text: ch.candidate_root_causes.join(', ') || '-'})));
      });
      box.appendChild(el('h2', {text: group[0] + ' (' + group[1].length + ')'}));
      box.appendChild(list);
    });
  }

  function renderSummary() {
    var box = document.getElementById('summary');
    var run = DATA.runs[DATA.runs.length - 1];
    var rows = run.rows, tally = run.tally;
    box.appendChild(el('div', {cls: 'cards'},
      card(tally.traces, 'traces'), card(tally.passed, 'passed', 'passed'), card(tally.failed, 'failed', 'failed'),
      tally.incomplete ? card(tally.incomplete, 'incomplete', 'incomplete') : null,
      card(tally.direct, 'direct failures', 'direct'), card(tally.cascade, 'cascade failures', 'cascade'),
      card(tally.judge_errors, 'judge errors', 'judge_error'), card(tally.not_assessable, 'not assessable'),
      card(tally.recovered, 'recovered')));
    if (run.header.inputErrors.length) {
      var errs = el('div', {cls: 'errors'}, el('b', {text: run.header.inputErrors.length + ' input(s) could not be read'}));
      run.header.inputErrors.forEach(function (e) { errs.appendChild(el('div', {cls: 'mono', text: e[0] + ': ' + e[1]})); });
      box.appendChild(errs);
    }
    renderComparison(box);
    box.appendChild(el('div', {cls: 'breakdown'},
      countTable('Failures by step type', tally.byType), countTable('Failures by code', tally.byCode, codeLabel),
      countTable('Root causes by code', tally.rootByCode, codeLabel)));

    var filters = el('div', {cls: 'filters'},
      select('status', 'status', ['passed', 'failed', 'incomplete']),
      select('type', 'failing step type', optionsOf(rows, function (r) { return r.types; })),
      select('code', 'failure code', optionsOf(rows, function (r) { return r.codes; }), codeLabel),
      select('agent', 'agent', optionsOf(rows, function (r) { return r.agents; })),
      el('label', null, 'search trace id, label, task or file', el('input', {type: 'search', name: 'q', placeholder: 'e.g. ticket-'})),
      el('span', {cls: 'count'}));
    box.appendChild(el('h2', {text: (DATA.comparison ? 'Candidate traces' : 'Traces')}));
    box.appendChild(filters);
    var table = el('table', {cls: 'traces', id: 'trace-table'},
      el('thead', null, el('tr', null, el('th', {text: 'trace'}), el('th', {text: 'status'}), el('th', {text: 'steps'}),
        el('th', {text: 'failing steps'}), el('th', {text: 'root cause'}), el('th', {text: 'agents'}))));
    var body = el('tbody', null);
    table.appendChild(body);
    box.appendChild(table);

    var trs = rows.map(function (r) {
      var failing = el('td', null);
      r.failing.forEach(function (f) { failing.appendChild(pill(f[0] + ' ' + f[1] + (f[2] ? ' ' + f[2] : '') + (f[3] ? ' (recovered)' : ''), f[1])); });
      if (!r.failing.length) failing.textContent = '-';
      var roots = el('td', null);
      r.roots.forEach(function (rc) { roots.appendChild(pill(rc[0] + (rc[1] ? ' ' + codeLabel(rc[1]) : ''), 'root')); });
      if (!r.roots.length) roots.textContent = '-';
      var tr = el('tr', {'data-trace-id': r.id, 'data-status': r.status},
        el('td', null, el('a', {href: traceHref(run.key, r.id), cls: 'mono', text: r.id}), r.task ? el('div', {cls: 'muted', text: r.task.slice(0, 140)}) : null),
        el('td', null, pill(r.status, r.status)), el('td', {text: String(r.steps)}), failing, roots,
        el('td', {text: r.agents.join(', ') || '-'}));
      r.haystack = (r.id + '\n' + r.labels.join('\n') + '\n' + r.task + '\n' + r.source).toLowerCase();
      return tr;
    });
    var fragment = document.createDocumentFragment();
    trs.forEach(function (tr) { fragment.appendChild(tr); });
    body.appendChild(fragment);

    function apply() {
      var f = {};
      filters.querySelectorAll('select, input').forEach(function (c) { f[c.name] = c.value.trim(); });
      var q = f.q.toLowerCase(), shown = 0;
      rows.forEach(function (r, i) {
        var ok = (!f.status || r.status === f.status) && (!f.type || r.types.indexOf(f.type) >= 0) &&
          (!f.code || r.codes.indexOf(f.code) >= 0) && (!f.agent || r.agents.indexOf(f.agent) >= 0) &&
          (!q || r.haystack.indexOf(q) >= 0);
        trs[i].hidden = !ok;
        shown += ok;
      });
      filters.querySelector('.count').textContent = 'showing ' + shown + ' of ' + rows.length + ' traces';
    }
    // Filters live in the address too (#status=failed&q=ticket), so a filtered view can be shared.
    var preset = hashParams();
    if (preset.get('trace') === null) {
      filters.querySelectorAll('select, input').forEach(function (c) { if (preset.get(c.name)) c.value = preset.get(c.name); });
    }
    function remember() {
      apply();
      var p = new URLSearchParams();
      filters.querySelectorAll('select, input').forEach(function (c) { if (c.value) p.set(c.name, c.value); });
      history.replaceState(null, '', '#' + p.toString());
    }
    filters.addEventListener('input', remember);
    filters.addEventListener('change', remember);
    apply();
  }

  // ---- one trace -----------------------------------------------------------------------------
  function detailOf(runIndex, traceIndex) {
    var key = runIndex + '-' + traceIndex;
    if (!details[key]) details[key] = JSON.parse(document.getElementById('d-' + key).textContent);
    return details[key];
  }
  function curve(points) {
    var d = 'M' + points[0][0] + ',' + points[0][1];
    for (var i = 1; i < points.length; i++) {
      var a = points[i - 1], b = points[i], m = (b[1] - a[1]) / 2;
      d += ' C' + a[0] + ',' + (a[1] + m) + ' ' + b[0] + ',' + (b[1] - m) + ' ' + b[0] + ',' + b[1];
    }
    return d;
  }
  function clip(text, n) { return text.length > n ? text.slice(0, n - 1) + '\u2026' : text; }

  function drawGraph(t, runKey) {
    var width = Math.max(t.width, 200), height = Math.max(t.height, 80);
    var root = svg('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': 'step DAG of ' + t.id, 'class': 'dag'});
    var defs = svg('defs', {});
    [['arrow', '#8c959f'], ['arrow-chain', '#82071e']].forEach(function (m) {
      var marker = svg('marker', {id: m[0], viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '9', markerHeight: '9', markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse'});
      marker.appendChild(svg('path', {d: 'M0,0 L10,5 L0,10 z', fill: m[1]}));
      defs.appendChild(marker);
    });
    root.appendChild(defs);
    var edges = svg('g', {'class': 'edges'});
    var late = [];
    t.edges.forEach(function (e) {
      var s = t.steps[e[0]], d = t.steps[e[1]];
      var pts = [[s.x, s.y + NODE_H / 2]];
      for (var i = 0; i < e[2].length; i += 2) pts.push([e[2][i], e[2][i + 1]]);
      pts.push([d.x, d.y - NODE_H / 2 - 1]);
      var hot = !e[3] && (s.verdict === 'direct' || s.verdict === 'cascade') && (d.verdict === 'cascade');
      var path = svg('path', {d: curve(pts), 'class': 'edge' + (e[3] ? ' chain' : hot ? ' hot' : ''), 'marker-end': 'url(#' + (e[3] ? 'arrow-chain' : 'arrow') + ')',
        'data-from': s.id, 'data-to': d.id});
      if (e[3]) late.push(path); else edges.appendChild(path);
    });
    late.forEach(function (p) { edges.appendChild(p); });
    root.appendChild(edges);
    var nodes = svg('g', {'class': 'nodes'});
    t.steps.forEach(function (s) {
      var g = svg('g', {'class': 'node v-' + s.verdict, transform: 'translate(' + (s.x - NODE_W / 2) + ',' + (s.y - NODE_H / 2) + ')',
        'data-step-id': s.id, 'data-verdict': s.verdict, tabindex: '0', role: 'button'});
      if (s.rc) g.setAttribute('data-root-cause', 'true');
      if (s.recovered) g.setAttribute('data-recovered', 'true');
      var fill = 'var(--' + s.verdict + '-fill)', line = 'var(--' + s.verdict + '-line)';
      g.appendChild(svg('rect', {'class': 'halo', x: -4, y: -4, width: NODE_W + 8, height: NODE_H + 8, rx: 9, fill: 'none'}));
      if (s.rc) g.appendChild(svg('rect', {x: -3, y: -3, width: NODE_W + 6, height: NODE_H + 6, rx: 8, fill: 'none', stroke: 'var(--root)', 'stroke-width': 2.5}));
      var box = svg('rect', {'class': 'box', width: NODE_W, height: NODE_H, rx: 6, fill: fill, stroke: line});
      if (s.verdict === 'not_assessable' || s.verdict === 'cascade') box.setAttribute('stroke-dasharray', s.verdict === 'cascade' ? '6 3' : '3 3');
      g.appendChild(box);
      g.appendChild(svg('rect', {x: 0, y: 0, width: 5, height: NODE_H, rx: 2, fill: line}));
      var title = svg('text', {x: 12, y: 17, 'class': 'id'});
      title.textContent = clip(s.id, 14);
      var kind = svg('tspan', {'class': 'sub', dx: 6});
      kind.textContent = s.type;
      title.appendChild(kind);
      g.appendChild(title);
      var score = svg('text', {x: NODE_W - 8, y: 17, 'text-anchor': 'end', 'class': 'score'});
      score.textContent = fmt(s.score);
      g.appendChild(score);
      var sub = svg('text', {x: 12, y: 33, 'class': 'sub'});
      var verdictText = s.verdict.replace('_', ' ') + (s.code ? ' ' + s.code : '') + (s.recovered ? ' \u21ba' : '');
      sub.textContent = clip(verdictText + (s.tool ? ' \u00b7 ' + s.tool : ''), 27);
      g.appendChild(sub);
      if (s.rc) {
        var tag = svg('g', {transform: 'translate(' + (NODE_W - 78) + ',-11)'});
        tag.appendChild(svg('rect', {width: 74, height: 15, rx: 7, fill: 'var(--root)'}));
        var tt = svg('text', {x: 37, y: 11, 'text-anchor': 'middle', 'class': 'tag'});
        tt.textContent = 'ROOT CAUSE';
        tag.appendChild(tt);
        g.appendChild(tag);
      }
      var tip = svg('title', {});
      tip.textContent = s.id + ' ' + s.type + ': ' + s.verdict + (s.reason ? ' \u2014 ' + clip(s.reason, 200) : '');
      g.appendChild(tip);
      g.addEventListener('click', function () { selectStep(runKey, t.id, s.id); });
      g.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); selectStep(runKey, t.id, s.id); } });
      nodes.appendChild(g);
    });
    root.appendChild(nodes);
    return root;
  }

  // Shrink a wide drawing to the box's width (never below 60%, then it scrolls); a tall one scrolls.
  function fit(graph, drawing, t) {
    var scale = Math.max(0.6, Math.min(1, (graph.clientWidth - 2) / t.width));
    drawing.setAttribute('width', Math.floor(Math.max(t.width, 200) * scale));
    drawing.setAttribute('height', Math.floor(Math.max(t.height, 80) * scale));
    drawing.setAttribute('data-scale', scale.toFixed(3));
  }

  function selectStep(runKey, traceId, stepId) {
    history.replaceState(null, '', traceHref(runKey, traceId, stepId));
    route();
  }

  function showStep(panel, t, runKey, stepId) {
    panel.textContent = '';
    var s = null;
    t.steps.forEach(function (x) { if (x.id === stepId) s = x; });
    if (!s) {
      panel.appendChild(el('p', {cls: 'muted', text: stepId ? 'No step ' + stepId + ' in this trace.' : 'Click a step to see what it received, did and produced, and what the judge said.'}));
      return;
    }
    var head = el('div', null, pill(s.verdict.replace('_', ' '), s.verdict), s.rc ? pill('root cause', 'root') : null,
      s.recovered ? pill('recovered', 'pass') : null);
    s.flags.forEach(function (f) { head.appendChild(pill(f, 'flag')); });
    panel.appendChild(el('h3', {text: s.id}));
    panel.appendChild(head);
    var dl = el('dl', null);
    function row(k, v, node) { if (v || node) { dl.appendChild(el('dt', {text: k})); dl.appendChild(node || el('dd', {text: v})); } }
    row('type', s.type);
    row('tool', s.tool);
    row('score', s.score === null ? '' : fmt(s.score) + (s.threshold !== null ? ' (fails under ' + fmt(s.threshold) + ')' : ''));
    row('failure code', s.code ? codeLabel(s.code) : '');
    row('agent', s.agent);
    row('model', s.model);
    row('status', s.status !== 'ok' ? s.status : '');
    row('judge', s.judge);
    function links(ids) {
      var dd = el('dd', null);
      ids.forEach(function (id, i) { if (i) dd.appendChild(document.createTextNode(', ')); dd.appendChild(el('a', {href: traceHref(runKey, t.id, id), text: id})); });
      return dd;
    }
    if (s.parents.length) row('consumes', '', links(s.parents));
    if (s.upstream.length) row('upstream failures', '', links(s.upstream));
    panel.appendChild(dl);
    if (s.reason) { panel.appendChild(el('h4', {text: 'reason'})); panel.appendChild(el('div', {cls: 'reason', text: s.reason})); }
    ['input', 'arguments', 'output', 'error'].forEach(function (k) {
      if (s.fields[k] === undefined) return;
      panel.appendChild(el('h4', {text: k}));
      var text = s.fields[k];
      try { if (/^[\[{]/.test(text)) text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* keep as written */ }
      panel.appendChild(el('pre', {text: text}));
    });
  }

  function renderTrace(runIndex, traceIndex, stepId) {
    var box = document.getElementById('trace');
    var run = DATA.runs[runIndex];
    var t = detailOf(runIndex, traceIndex);
    if (box.getAttribute('data-shown') !== runIndex + '-' + traceIndex) {
      box.textContent = '';
      box.setAttribute('data-shown', runIndex + '-' + traceIndex);
      var head = el('div', {cls: 'trace-head'}, el('a', {href: '#', text: '\u2190 all traces'}), el('h2', {cls: 'mono', text: t.id}), pill(t.status, t.status));
      if (DATA.runs.length > 1) {
        DATA.runs.forEach(function (other, i) {
          if (i === runIndex) { head.appendChild(el('span', {cls: 'pill skipped', text: other.key + ': ' + other.header.name})); return; }
          var j = other.index[t.id];
          head.appendChild(j === undefined ? el('span', {cls: 'muted', text: 'not in ' + other.key}) : el('a', {href: traceHref(other.key, t.id), text: 'see in ' + other.key}));
        });
      }
      box.appendChild(head);
      if (t.task) box.appendChild(el('p', {cls: 'trace-info'}, el('b', {text: 'Task: '}), t.task));
      if (t.expected) box.appendChild(el('p', {cls: 'trace-info'}, el('b', {text: 'Expected: '}), t.expected));
      box.appendChild(el('p', {cls: 'trace-info mono', text: [t.source, t.format, 'judge ' + t.judge, t.steps.length + ' steps'].filter(Boolean).join(' \u00b7 ')}));
      t.roots.forEach(function (rc) {
        var chain = el('span', {cls: 'chain'});
        rc.chain.forEach(function (id, i) {
          if (i) chain.appendChild(document.createTextNode(' \u2192 '));
          chain.appendChild(el('a', {href: traceHref(run.key, t.id, id), text: id}));
        });
        box.appendChild(el('div', {cls: 'rootline'}, el('b', {text: 'Root cause '}), el('a', {href: traceHref(run.key, t.id, rc.step), text: rc.step}),
          rc.code ? ' (' + codeLabel(rc.code) + ')' : ' (uncoded)', ', via ' + rc.algorithm + ': ', chain));
      });
      var legend = el('div', {cls: 'legend'});
      var present = {};
      t.steps.forEach(function (s) { present[s.verdict] = true; });
      VERDICTS.forEach(function (v) {
        if (present[v]) legend.appendChild(el('span', null, el('span', {cls: 'sw', style: 'background:var(--' + v + '-fill);border-color:var(--' + v + '-line)'}), v.replace('_', ' ')));
      });
      if (t.roots.length) legend.appendChild(el('span', null, el('span', {cls: 'ln'}), 'root-cause chain'));
      legend.appendChild(el('span', {text: 'data flows top to bottom; click a step for its content'}));
      box.appendChild(legend);
      var graph = el('div', {cls: 'graph'});
      var drawing = drawGraph(t, run.key);
      graph.appendChild(drawing);
      box.appendChild(el('div', {cls: 'split'}, graph, el('aside', {cls: 'detail', id: 'step-detail', 'aria-live': 'polite'})));
      fit(graph, drawing, t);
    }
    box.querySelectorAll('g.node.selected').forEach(function (g) { g.classList.remove('selected'); });
    var chosen = null;
    box.querySelectorAll('g.node').forEach(function (g) { if (g.getAttribute('data-step-id') === stepId) chosen = g; });
    if (chosen) {
      chosen.classList.add('selected');
      // Bring a step opened by link into view inside the graph's scroll box (not the whole page).
      var graph = box.querySelector('.graph'), drawing = graph.querySelector('svg');
      var scale = parseFloat(drawing.getAttribute('data-scale')) || 1;
      t.steps.forEach(function (s) {
        if (s.id !== stepId) return;
        var top = s.y * scale - graph.clientHeight / 2, left = s.x * scale - graph.clientWidth / 2;
        if (s.y * scale > graph.scrollTop + graph.clientHeight - 40 || s.y * scale < graph.scrollTop + 40) graph.scrollTop = Math.max(0, top);
        if (s.x * scale > graph.scrollLeft + graph.clientWidth - 40 || s.x * scale < graph.scrollLeft + 40) graph.scrollLeft = Math.max(0, left);
      });
    }
    showStep(document.getElementById('step-detail'), t, run.key, stepId);
  }

  function route() {
    var p = hashParams();
    var id = p.get('trace');
    var summary = document.getElementById('summary'), trace = document.getElementById('trace');
    if (id === null) { summary.hidden = false; trace.hidden = true; document.title = DATA.title; return; }
    var runIndex = runByKey(p.get('run') || DATA.runs[DATA.runs.length - 1].key);
    var traceIndex = DATA.runs[runIndex].index[id];
    summary.hidden = true;
    trace.hidden = false;
    if (traceIndex === undefined) {
      trace.textContent = '';
      trace.removeAttribute('data-shown');
      trace.appendChild(el('p', null, el('a', {href: '#', text: '\u2190 all traces'})));
      trace.appendChild(el('p', {text: 'No trace ' + id + ' in run ' + DATA.runs[runIndex].header.name + '.'}));
      return;
    }
    renderTrace(runIndex, traceIndex, p.get('step'));
    document.title = id + ' \u00b7 ' + DATA.title;
  }

  DATA.runs.forEach(function (run) {
    run.index = {};
    run.rows.forEach(function (r, i) { run.index[r.id] = i; });
  });
  var h = DATA.runs[DATA.runs.length - 1].header;
  document.getElementById('run-name').textContent = (DATA.comparison ? '' : 'Run ') + DATA.title;
  document.getElementById('run-meta').textContent = (h.id !== h.name ? 'run ' + h.id + ' \u00b7 ' : '') + 'judge ' + h.judge + ' \u00b7 ' + h.created.replace('T', ' ') +
    (h.commit ? ' \u00b7 commit ' + h.commit.slice(0, 10) : '') + ' \u00b7 ' + DATA.generator;
  renderSummary();
  window.addEventListener('hashchange', route);
  route();
  document.documentElement.setAttribute('data-rendered-ms', performance.now().toFixed(1));
})();
