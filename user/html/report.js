// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The script of `spiketrace report --format html` (embedded by user/report_html.c).
// It reads the data document (the JSON element with id "st-data") and
// draws the page: summary, ranked causes, CPU flame graph (canvas), timeline
// (hand-written SVG) and the OOM, TLS and TCP tables. No library, no network.
// Every name from the recording is inserted as text (textContent), never as markup.
// window.spiketrace is the handle for people and tests:
//   selectCause(name|null), selected(), zoomed(), zoomTo(name), resetZoom(),
//   visibleFrames(), search(text), charts(), errors[], ready.
(function () {
	'use strict';

	const ST = window.spiketrace || (window.spiketrace = { errors: [] });
	const D = JSON.parse(document.getElementById('st-data').textContent);
	const CAUSE_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#59a14f', '#b07aa1',
		'#76b7b2', '#edc948', '#9c755f'];
	const MARKS = {
		oom_kill: { color: '#d62728', label: 'OOM kill', width: 2 },
		trigger: { color: '#7b3fe4', label: 'trigger', width: 2, dash: '4 3' },
		reset: { color: '#e07b00', label: 'TCP reset', width: 1, opacity: 0.6 },
		exec: { color: '#2e9d57', label: 'exec', width: 1, opacity: 0.35 },
		exit: { color: '#8a94a3', label: 'exit', width: 1, opacity: 0.35 },
	};

	const state = { cause: null, zoom: null, query: '' };
	const causeColor = new Map();
	(D.timeline ? D.timeline.causes : []).forEach(function (n, i) {
		causeColor.set(n, CAUSE_COLORS[i % CAUSE_COLORS.length]);
	});

	/* ---------- small helpers ---------- */

	function h(tag, attrs, kids) {
		const e = document.createElement(tag);
		setAttrs(e, attrs);
		append(e, kids);
		return e;
	}

	function s(tag, attrs, kids) {
		const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
		setAttrs(e, attrs);
		append(e, kids);
		return e;
	}

	function setAttrs(e, attrs) {
		if (!attrs)
			return;
		for (const k of Object.keys(attrs)) {
			const v = attrs[k];
			if (v === null || v === undefined || v === false)
				continue;
			if (k === 'text')
				e.textContent = String(v);
			else if (k === 'style' && typeof v === 'object')
				Object.assign(e.style, v);
			else if (k.startsWith('on'))
				e.addEventListener(k.slice(2), v);
			else
				e.setAttribute(k === 'cls' ? 'class' : k, String(v));
		}
	}

	function append(e, kids) {
		if (kids === null || kids === undefined)
			return;
		if (!Array.isArray(kids))
			kids = [kids];
		for (const k of kids) {
			if (k === null || k === undefined || k === false)
				continue;
			e.appendChild(typeof k === 'object' ? k : document.createTextNode(String(k)));
		}
	}

	function num(v) {
		return Math.round(v).toLocaleString('en-US');
	}

	function fixed(v, d) {
		return v === null || v === undefined ? '-' : Number(v).toFixed(d);
	}

	function bytes(b) {
		const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
		let i = 0;
		b = Number(b) || 0;
		while (Math.abs(b) >= 1024 && i < u.length - 1) {
			b /= 1024;
			i++;
		}
		return (i && Math.abs(b) < 10 ? b.toFixed(1) : Math.round(b)) + ' ' + u[i];
	}

	function short(v) {
		const a = Math.abs(v);
		if (a >= 1e9)
			return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G';
		if (a >= 1e6)
			return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
		if (a >= 1e4)
			return (v / 1e3).toFixed(0) + 'k';
		if (a >= 100 || v === Math.round(v))
			return String(Math.round(v));
		return v.toFixed(a >= 10 ? 1 : 2);
	}

	function secs(v) {
		if (v >= 3600)
			return (v / 3600).toFixed(1) + ' h';
		if (v >= 120)
			return Math.floor(v / 60) + ' min ' + Math.round(v % 60) + ' s';
		return (v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' s';
	}

	function pct(part, whole) {
		return whole > 0 ? (100 * part / whole).toFixed(1) + '%' : '0%';
	}

	function ms(v) {
		if (v === null || v === undefined)
			return '\u2014';
		return v >= 1000 ? secs(v / 1000) : v.toFixed(v >= 10 ? 0 : 1) + ' ms';
	}

	function hash(str) {
		let x = 2166136261;
		for (let i = 0; i < str.length; i++) {
			x ^= str.charCodeAt(i);
			x = Math.imul(x, 16777619);
		}
		return (x >>> 0) / 4294967296;
	}

	function safe(name, fn) {
		try {
			return fn();
		} catch (e) {
			ST.errors.push(name + ': ' + (e && e.stack ? e.stack : String(e)));
			return h('div', { cls: 'banner error', text: 'This part of the report could not be drawn (' + name + '): ' + e });
		}
	}

	function debounce(fn, wait) {
		let t = 0;
		return function () {
			clearTimeout(t);
			t = setTimeout(fn, wait);
		};
	}

	/* ---------- tooltip ---------- */

	const tip = h('div', { cls: 'tip hidden', role: 'tooltip' });

	function showTip(ev, kids) {
		tip.textContent = '';
		append(tip, kids);
		tip.classList.remove('hidden');
		const r = tip.getBoundingClientRect();
		let x = ev.clientX + 14, y = ev.clientY + 16;
		if (x + r.width > window.innerWidth - 6)
			x = Math.max(6, ev.clientX - r.width - 14);
		if (y + r.height > window.innerHeight - 6)
			y = Math.max(6, ev.clientY - r.height - 12);
		tip.style.left = x + 'px';
		tip.style.top = y + 'px';
	}

	function hideTip() {
		tip.classList.add('hidden');
	}

	function tipRow(a, b, color) {
		return h('div', { cls: 'r' }, [
			h('span', null, [color ? h('i', { cls: 'swatch', style: { background: color } }) : null, a]),
			h('span', { text: b }),
		]);
	}

	/* ---------- header ---------- */

	function tile(k, v, sub, cls, title) {
		return h('div', { cls: 'tile' + (cls ? ' ' + cls : ''), title: title || (v + (sub ? '\n' + sub : '')) }, [
			h('div', { cls: 'k', text: k }),
			h('div', { cls: 'v', text: v }),
			sub ? h('div', { cls: 's', text: sub }) : null,
		]);
	}

	function startText() {
		if (!D.start_unix_s)
			return ['unknown', ''];
		const d = new Date(D.start_unix_s * 1000);
		const utc = d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
		const time = d.toLocaleTimeString('en-GB', { hour12: false });
		const day = d.toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
		return [time, utc, day];
	}

	function topbar() {
		const chip = h('span', { cls: 'chip hidden', id: 'sel-chip' }, [
			h('span', { cls: 'label' }),
			h('button', { title: 'Show all causes', text: '\u00d7', onclick: () => selectCause(null) }),
		]);
		const links = [['causes', 'Causes'], ['flame', 'Flame graph'], ['timeline', 'Timeline']];
		if (D.ooms)
			links.push(['ooms', 'OOM kills']);
		if (D.tls)
			links.push(['tls', 'TLS']);
		if (D.tcp)
			links.push(['tcp', 'TCP']);
		return h('header', { cls: 'topbar' }, [
			h('div', { cls: 'brand' }, ['spike', h('span', { text: 'trace' })]),
			h('div', { cls: 'where', text: (D.host || '?') + ' \u00b7 ' + (D.kernel || '?') + ' \u00b7 ' + startText()[1] }),
			chip,
			h('nav', null, links.map(l => h('a', { href: '#' + l[0], text: l[1] }))),
		]);
	}

	function summary() {
		const st = startText();
		const lost = D.lost_events || 0;
		const c = D.cpu;
		const tiles = [
			tile('Host', D.host || '?', D.kernel ? 'kernel ' + D.kernel : ''),
			tile('Started', st[0], st[2] ? st[2] + ' (local)' : '', null, st[1]),
			tile('Duration', secs(D.duration_s || 0), D.cut_short ? 'cut short' : 'complete recording'),
			tile('Lost events', num(lost), lost ? 'counts below are lower bounds' : 'none lost',
				lost ? 'bad' : '', 'kernel (ring buffer full) ' + D.lost.kernel + ', undecodable ' +
				D.lost.decode + ', model ' + D.lost.model),
			tile('Causes', num((D.causes || []).length), 'concerns: ' + (D.concerns || []).join(', ')),
		];
		if (c && c.samples)
			tiles.push(tile('Host CPU busy', pct(c.samples - c.idle, c.samples),
				num(c.samples) + ' samples every ' + (c.period_ns / 1e6).toFixed(1) + ' ms'));
		const out = [h('div', { cls: 'tiles' }, tiles)];
		if (D.cut_short)
			out.unshift(h('div', { cls: 'banner' }, [h('b', { text: 'Recording cut short.' }),
				h('span', { text: D.cut_short + ' \u2014 everything below covers only what was recorded.' })]));
		return out;
	}

	/* ---------- causes table ---------- */

	const COLS = [
		{ k: 'cpu_s', t: 'CPU s', f: v => fixed(v, 2), bar: true, tip: 'sampled CPU time' },
		{ k: 'conc', t: 'Conc.', f: v => num(v), tip: 'max concurrency: most threads runnable at once' },
		{ k: 'run_delay_s', t: 'Delay s', f: v => fixed(v, 3), tip: 'run delay: time runnable but waiting for a CPU' },
		{ k: 'rss_peak', t: 'RSS peak', f: bytes, bar: true, tip: 'the most the cause held at once' },
		{ k: 'rss_growth', t: 'Growth', f: bytes, tip: 'RSS growth while recording' },
		{ k: 'faults', t: 'Faults', f: num, tip: 'page faults' },
		{ k: 'ooms', t: 'OOM', f: num, hot: true, tip: 'processes killed by the OOM killer' },
		{ k: 'tls_hs', t: 'TLS hs', f: num, tip: 'TLS handshakes' },
		{ k: 'tcp_resets', t: 'TCP resets', f: num, hot: true },
		{ k: 'net_rx', t: 'Net in', f: bytes, bar: true, tip: 'bytes received (TCP and UDP)' },
		{ k: 'net_tx', t: 'Net out', f: bytes, tip: 'bytes sent (TCP and UDP)' },
	];

	function causeRow(c, i, cols, max) {
		const color = causeColor.get(c.name);
		const lin = (c.lineage || []).join(' \u203a ');
		const cells = [
			h('td', { cls: 'rank n', text: i + 1 }),
			h('td', { cls: 'trunc', title: c.name + (lin ? '\nlineage: ' + lin : '') }, [
				h('i', { cls: 'swatch', style: color ? { background: color } : null }),
				h('span', { cls: 'cause-name', text: c.name }),
			]),
			h('td', { cls: 'trunc narrow mono muted', title: c.cgroup || '', text: c.cgroup || '\u2014' }),
			h('td', { cls: 'trunc root mono', title: c.root_comm ? c.root_comm + ' [' + c.root_pid + ']' : '',
				text: c.root_comm ? c.root_comm + ' [' + c.root_pid + ']' : '\u2014' }),
			h('td', { cls: 'n', text: num(c.procs) }),
		];
		for (const col of cols) {
			const v = c[col.k] || 0;
			const td = h('td', { cls: 'n' + (v ? '' : ' zero') + (v && col.hot ? ' hot' : '') + (col.bar ? ' barcell' : '') });
			if (col.bar && max[col.k] > 0)
				td.appendChild(h('div', { cls: 'bar', style: { width: (100 * v / max[col.k]).toFixed(1) + '%' } }));
			td.appendChild(h('span', { text: col.f(v) }));
			cells.push(td);
		}
		return h('tr', { cls: 'cause-row', 'data-cause': c.name, tabindex: 0,
			onclick: () => selectCause(state.cause === c.name ? null : c.name),
			onkeydown: ev => {
				if (ev.key === 'Enter' || ev.key === ' ') {
					ev.preventDefault();
					selectCause(state.cause === c.name ? null : c.name);
				}
			} }, cells);
	}

	function causesCard() {
		const cs = D.causes || [];
		const cols = COLS.filter(col => cs.length && col.k in cs[0]);
		const max = {};
		for (const col of cols)
			max[col.k] = Math.max(0, ...cs.map(c => c[col.k] || 0));
		const head = h('tr', null, [h('th', { cls: 'n', text: '#' }), h('th', { text: 'Cause' }),
			h('th', { text: 'cgroup' }), h('th', { text: 'Root' }), h('th', { cls: 'n', text: 'Procs' })]
			.concat(cols.map(col => h('th', { cls: 'n', text: col.t, title: col.tip }))));
		const body = cs.length ? h('div', { cls: 'table-wrap tall' },
			h('table', { id: 'causes-table' }, [h('thead', null, head),
				h('tbody', null, cs.map((c, i) => causeRow(c, i, cols, max)))])) :
			h('div', { cls: 'empty', text: 'No process activity was recorded.' });
		return h('section', { cls: 'card', id: 'causes' }, [
			h('div', { cls: 'card-head' }, [
				h('h2', { text: 'Ranked causes' }),
				h('span', { cls: 'sub', text: cs.length + ' cause' + (cs.length === 1 ? '' : 's') +
					', most significant first \u00b7 click a row to focus the flame graph and timeline' }),
				h('div', { cls: 'right' }, h('button', { cls: 'btn', id: 'all-causes', text: 'All causes',
					disabled: true, onclick: () => selectCause(null) })),
			]),
			body,
		]);
	}

	/* ---------- flame graph ---------- */

	const ROW = 18;
	const FL = { tree: null, drawn: [], rows: [], canvas: null, wrap: null, hover: null,
		status: null, crumbs: null, match: null, input: null, re: null, charW: 7 };

	function frameKind(name, pos, ncause) {
		if (pos === 0)
			return 'cause';
		if (pos < ncause)
			return pos < ncause - 1 && (name.startsWith('tls:') || name === 'page_fault') ? 'phase' : 'comm';
		if (name.endsWith('_[k]'))
			return 'kernel';
		if (name.startsWith('[') && name.endsWith(']'))
			return 'other';
		return 'user';
	}

	function buildTree(fl) {
		const root = { name: 'all', v: 0, kids: null, parent: null, depth: 0, kind: 'root', h: 1 };
		for (const st of fl.stacks) {
			const count = st[0], nc = st[1];
			let node = root;
			root.v += count;
			for (let i = 2; i < st.length; i++) {
				const id = st[i];
				if (!node.kids)
					node.kids = new Map();
				let ch = node.kids.get(id);
				if (!ch) {
					const name = fl.names[id];
					ch = { name: name, v: 0, kids: null, parent: node, depth: node.depth + 1,
						kind: frameKind(name, i - 2, nc), h: 1 };
					node.kids.set(id, ch);
				}
				ch.v += count;
				node = ch;
			}
		}
		finish(root);
		return root;
	}

	// Children as arrays, biggest first; h = levels in the subtree (iteratively).
	function finish(root) {
		const order = [];
		const todo = [root];
		while (todo.length) {
			const n = todo.pop();
			order.push(n);
			if (!n.kids)
				continue;
			n.kids = Array.from(n.kids.values()).sort((a, b) => b.v - a.v || (a.name < b.name ? -1 : 1));
			for (const k of n.kids)
				todo.push(k);
		}
		for (let i = order.length - 1; i >= 0; i--) {
			const n = order[i];
			if (n.parent && n.parent.h < n.h + 1)
				n.parent.h = n.h + 1;
		}
	}

	function flameBase() {
		if (!FL.tree)
			return null;
		if (!state.cause)
			return FL.tree;
		return (FL.tree.kids || []).find(k => k.name === state.cause) || null;
	}

	function frameColor(n) {
		const v1 = hash(n.name), v2 = hash(n.name + '\u0001'), v3 = hash(n.name + '\u0002');
		switch (n.kind) {
		case 'root':
			return 'rgb(206,212,220)';
		case 'cause':
			return 'rgb(' + Math.round(120 + 20 * v1) + ',' + Math.round(153 + 20 * v1) + ',205)';
		case 'comm':
			return 'rgb(' + Math.round(170 + 15 * v1) + ',' + Math.round(192 + 12 * v1) + ',226)';
		case 'phase':
			return 'rgb(236,' + Math.round(110 + 20 * v1) + ',' + Math.round(160 + 20 * v2) + ')';
		case 'kernel':
			return 'rgb(' + Math.round(60 + 50 * v1) + ',' + Math.round(170 + 35 * v2) + ',' + Math.round(160 + 35 * v2) + ')';
		case 'other':
			return 'rgb(196,199,204)';
		default:
			return 'rgb(' + Math.round(225 + 30 * v3) + ',' + Math.round(95 + 135 * v1) + ',' + Math.round(40 + 45 * v2) + ')';
		}
	}

	function matches(n) {
		return FL.re !== null && n.kind !== 'root' && FL.re(n.name);
	}

	function ancestorsOf(n, base) {
		const up = [];
		for (let p = n; p && p !== base; p = p.parent)
			up.unshift(p.parent);
		return up;
	}

	function layoutFlame(base, zoom, width) {
		const drawn = [];
		const up = ancestorsOf(zoom, base);
		up.forEach((a, r) => drawn.push({ n: a, x: 0, w: width, row: r, above: true }));
		const todo = [[zoom, 0, width, up.length]];
		while (todo.length) {
			const [n, x, w, row] = todo.pop();
			drawn.push({ n: n, x: x, w: w, row: row, above: false });
			if (!n.kids)
				continue;
			const scale = w / n.v;
			let cx = x;
			for (const k of n.kids) {
				const kw = k.v * scale;
				if (kw >= 0.9)
					todo.push([k, cx, kw, row + 1]);
				cx += kw;
			}
		}
		return drawn;
	}

	function drawFlame() {
		const base = flameBase();
		const cv = FL.canvas;
		if (!cv)
			return;
		if (!base) {
			FL.drawn = [];
			cv.style.height = '0px';
			cv.width = 0;
			FL.empty.classList.remove('hidden');
			FL.empty.textContent = 'No CPU samples for ' + state.cause + '.';
			updateCrumbs(null);
			return;
		}
		FL.empty.classList.add('hidden');
		if (!state.zoom || !isUnder(state.zoom, base))
			state.zoom = base;
		const zoom = state.zoom;
		const width = Math.max(200, FL.wrap.clientWidth - 32);
		FL.drawn = layoutFlame(base, zoom, width);
		const rows = 1 + FL.drawn.reduce((m, f) => Math.max(m, f.row), 0);
		const height = rows * ROW + 2;
		const dpr = window.devicePixelRatio || 1;
		cv.width = Math.round(width * dpr);
		cv.height = Math.round(height * dpr);
		cv.style.height = height + 'px';
		const ctx = cv.getContext('2d');
		ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
		ctx.clearRect(0, 0, width, height);
		ctx.font = '11px ' + getComputedStyle(document.body).getPropertyValue('--mono');
		ctx.textBaseline = 'middle';
		FL.charW = ctx.measureText('abcdefghijklmnopqrstuvwxyz_[]:').width / 30;
		FL.rows = [];
		const searching = FL.re !== null;
		for (const f of FL.drawn) {
			(FL.rows[f.row] || (FL.rows[f.row] = [])).push(f);
			f.match = searching && matches(f.n);
			paintFrame(ctx, f, searching);
		}
		for (const r of FL.rows)
			if (r)
				r.sort((a, b) => a.x - b.x);
		updateCrumbs(base);
		updateMatch(base);
		FL.hover.classList.add('hidden');
	}

	function paintFrame(ctx, f, searching) {
		const y = f.row * ROW;
		let fill = frameColor(f.n);
		let ink = '#1d2430';
		if (searching && !f.match && f.n.kind !== 'root') {
			fill = '#e6e9ee';
			ink = '#8c95a3';
		} else if (f.match) {
			fill = 'rgb(160,92,240)';
			ink = '#ffffff';
		}
		ctx.globalAlpha = f.above ? 0.55 : 1;
		ctx.fillStyle = fill;
		ctx.fillRect(f.x, y, f.w > 2 ? f.w - 1 : f.w, ROW - 1);
		if (f.w > 26) {
			const max = Math.floor((f.w - 6) / FL.charW);
			let t = f.n.name;
			if (t.length > max)
				t = max > 2 ? t.slice(0, max - 1) + '\u2026' : '';
			if (t) {
				ctx.fillStyle = ink;
				ctx.fillText(t, f.x + 3, y + ROW / 2);
			}
		}
		ctx.globalAlpha = 1;
	}

	function isUnder(n, base) {
		for (let p = n; p; p = p.parent)
			if (p === base)
				return true;
		return false;
	}

	function frameAt(x, y) {
		const row = FL.rows[Math.floor(y / ROW)];
		if (!row)
			return null;
		let lo = 0, hi = row.length - 1;
		while (lo <= hi) {
			const mid = (lo + hi) >> 1, f = row[mid];
			if (x < f.x)
				hi = mid - 1;
			else if (x >= f.x + f.w)
				lo = mid + 1;
			else
				return f;
		}
		return null;
	}

	function frameFacts(n) {
		const fl = D.flame, base = flameBase();
		const sec = n.v * fl.period_ns / 1e9;
		return { samples: n.v, secs: sec, all: pct(n.v, fl.total), view: base ? pct(n.v, base.v) : '' };
	}

	function kindLabel(k) {
		return { root: 'all samples', cause: 'cause', phase: 'phase', comm: 'process',
			kernel: 'kernel code', user: 'user code', other: 'no code frame' }[k] || k;
	}

	function onFlameMove(ev) {
		const r = FL.canvas.getBoundingClientRect();
		const f = frameAt(ev.clientX - r.left, ev.clientY - r.top);
		if (!f) {
			onFlameLeave();
			return;
		}
		const x = f.x + FL.canvas.offsetLeft, y = f.row * ROW + FL.canvas.offsetTop;
		Object.assign(FL.hover.style, { left: x + 'px', top: y + 'px', width: Math.max(1, f.w - 1) + 'px', height: (ROW - 1) + 'px' });
		FL.hover.classList.remove('hidden');
		const k = frameFacts(f.n);
		FL.status.textContent = '';
		append(FL.status, [h('b', { text: f.n.name }), '  \u2014  ' + num(k.samples) + ' samples \u00b7 ' +
			fixed(k.secs, 3) + ' s \u00b7 ' + k.all + ' of all' + (state.cause || state.zoom !== flameBase() ? ' \u00b7 ' + k.view + ' of view' : '')]);
		showTip(ev, [h('div', { cls: 't', text: f.n.name }),
			h('div', { cls: 'm', text: kindLabel(f.n.kind) }),
			tipRow('samples', num(k.samples)), tipRow('CPU', fixed(k.secs, 3) + ' s'),
			tipRow('of all samples', k.all)]);
	}

	function onFlameLeave() {
		FL.hover.classList.add('hidden');
		hideTip();
		flameIdleStatus();
	}

	function flameIdleStatus() {
		if (!FL.status)
			return;
		const fl = D.flame, base = flameBase();
		FL.status.textContent = base ? num(base.v) + ' samples = ' + fixed(base.v * fl.period_ns / 1e9, 2) +
			' CPU-s' + (state.cause ? ' of ' + state.cause : '') + ' \u00b7 click a frame to zoom, Esc to zoom out' : '';
	}

	function onFlameClick(ev) {
		const r = FL.canvas.getBoundingClientRect();
		const f = frameAt(ev.clientX - r.left, ev.clientY - r.top);
		if (!f)
			return;
		state.zoom = f.n === state.zoom && f.n.parent && f.n !== flameBase() ? f.n.parent : f.n;
		drawFlame();
		onFlameMove(ev);
	}

	function updateCrumbs(base) {
		const c = FL.crumbs;
		c.textContent = '';
		FL.reset.disabled = !base || state.zoom === base;
		FL.out.disabled = FL.reset.disabled;
		if (!base)
			return;
		const path = ancestorsOf(state.zoom, base).concat([state.zoom]);
		path.forEach((n, i) => {
			if (i)
				c.appendChild(h('span', { cls: 'sep', text: '\u203a' }));
			if (i === path.length - 1)
				c.appendChild(h('span', { cls: 'cur', text: n.name, title: n.name }));
			else
				c.appendChild(h('a', { text: n.name, title: n.name, onclick: () => {
					state.zoom = n;
					drawFlame();
				} }));
		});
	}

	// Samples under matching frames, each counted once (not again under a matching parent).
	function updateMatch(base) {
		FL.matched = 0;
		if (FL.re === null || !base) {
			FL.match.textContent = '';
			return;
		}
		const todo = [base];
		while (todo.length) {
			const n = todo.pop();
			if (matches(n)) {
				FL.matched += n.v;
				continue;
			}
			if (n.kids)
				for (const k of n.kids)
					todo.push(k);
		}
		FL.match.textContent = 'Matched: ' + pct(FL.matched, base.v) + ' of samples (' + num(FL.matched) + ')';
	}

	function setQuery(q) {
		state.query = q;
		FL.input.classList.remove('bad');
		if (!q) {
			FL.re = null;
		} else {
			let re = null;
			try {
				re = new RegExp(q, 'i');
			} catch (e) {
				FL.input.classList.add('bad');
			}
			const low = q.toLowerCase();
			FL.re = re ? (t => re.test(t)) : (t => t.toLowerCase().includes(low));
		}
		drawFlame();
	}

	function flameLegend() {
		const item = (kind, label) => h('span', { cls: 'item' }, [h('i', { cls: 'swatch',
			style: { background: frameColor({ name: label, kind: kind }) } }), label]);
		return h('div', { cls: 'legend flame-legend' }, [item('cause', 'cause'), item('comm', 'process'),
			item('phase', 'phase (tls:*, page_fault)'), item('user', 'user code'), item('kernel', 'kernel code (_[k])'),
			h('span', { cls: 'item' }, [h('i', { cls: 'swatch', style: { background: 'rgb(160,92,240)' } }), 'search match'])]);
	}

	function flameCard() {
		const card = h('section', { cls: 'card', id: 'flame' });
		const fl = D.flame;
		const c = D.cpu;
		let sub = '';
		if (fl)
			sub = num(fl.total) + ' samples \u00b7 ' + fixed(fl.total * fl.period_ns / 1e9, 2) + ' CPU-s' +
				(c && c.profiled && c.truncated ? ' \u00b7 ' + pct(c.truncated, c.profiled) + ' with a cut stack' : '');
		card.appendChild(h('div', { cls: 'card-head' }, [h('h2', { text: 'CPU flame graph' }),
			h('span', { cls: 'sub', text: sub })]));
		if (!fl) {
			card.appendChild(h('div', { cls: 'empty', text: D.concerns && D.concerns.includes('cpu') ?
				'No CPU samples were taken during this recording.' :
				'This recording has no CPU samples (record with the cpu concern).' }));
			return card;
		}
		FL.tree = buildTree(fl);
		FL.out = h('button', { cls: 'btn', text: '\u2190 Zoom out', title: 'Zoom out one level (Esc)', onclick: zoomOut });
		FL.reset = h('button', { cls: 'btn', text: 'Reset zoom', onclick: () => {
			state.zoom = null;
			drawFlame();
		} });
		FL.crumbs = h('div', { cls: 'crumbs' });
		FL.match = h('span', { cls: 'match' });
		FL.input = h('input', { type: 'search', placeholder: 'Search frames (regex or text)', id: 'flame-search',
			spellcheck: 'false', oninput: debounce(() => setQuery(FL.input.value), 150) });
		card.appendChild(h('div', { cls: 'toolbar' }, [FL.out, FL.reset, FL.crumbs,
			h('div', { cls: 'search' }, [FL.match, FL.input])]));
		card.appendChild(flameLegend());
		FL.canvas = h('canvas', { id: 'flame-canvas', onmousemove: onFlameMove, onmouseleave: onFlameLeave, onclick: onFlameClick });
		FL.hover = h('div', { cls: 'flame-hover hidden' });
		FL.empty = h('div', { cls: 'empty hidden' });
		FL.wrap = h('div', { cls: 'flame-wrap' }, [FL.empty, FL.canvas, FL.hover]);
		FL.status = h('div', { cls: 'status' });
		card.appendChild(FL.wrap);
		card.appendChild(FL.status);
		return card;
	}

	function zoomOut() {
		const base = flameBase();
		if (state.zoom && state.zoom !== base && state.zoom.parent)
			state.zoom = state.zoom.parent;
		drawFlame();
	}

	/* ---------- timeline ---------- */

	const METRICS = {
		cpu_s: { title: 'CPU', unit: 'cores busy', rate: true, fmt: v => v.toFixed(v >= 10 ? 1 : 2) },
		runnable: { title: 'Runnable threads', unit: 'most at once', fmt: short },
		rss_bytes: { title: 'Resident memory', unit: 'RSS', fmt: bytes, axis: bytes },
		page_faults: { title: 'Page faults', unit: 'per second', rate: true, fmt: short },
		tls_handshakes: { title: 'TLS handshakes', unit: 'per second', rate: true, fmt: short },
		tcp_resets: { title: 'TCP resets', unit: 'per second', rate: true, fmt: short },
		execs: { title: 'Process starts', unit: 'execs per second', rate: true, fmt: short },
		net_rx_bytes: { title: 'Network in', unit: 'bytes per second', rate: true, fmt: bytes, axis: bytes },
		net_tx_bytes: { title: 'Network out', unit: 'bytes per second', rate: true, fmt: bytes, axis: bytes },
	};
	const TL = { charts: [] };

	// A round step for about four intervals, and the axis top: a multiple of it.
	function niceAxis(peak, isBytes) {
		let unit = 1;
		if (isBytes && peak >= 1024)
			unit = Math.pow(1024, Math.floor(Math.log(peak) / Math.log(1024)));
		const v = peak / unit;
		if (!(v > 0))
			return { max: 1, step: 1 };
		const raw = v / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
		let step = 10 * p;
		for (const m of [1, 2, 2.5, 5])
			if (m * p >= raw) {
				step = m * p;
				break;
			}
		return { max: Math.ceil(v / step - 1e-9) * step * unit, step: step * unit };
	}

	function timeStep(dur, px) {
		const want = Math.max(2, Math.floor(px / 70));
		for (const st of [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600])
			if (dur / st <= want)
				return st;
		return 7200;
	}

	function timeLabel(t) {
		if (t < 120)
			return (t === Math.round(t) ? t : t.toFixed(1)) + 's';
		return Math.floor(t / 60) + 'm' + (t % 60 ? String(Math.round(t % 60)).padStart(2, '0') : '');
	}

	function linePath(pts) {
		return pts.map((p, i) => (i ? 'L' : 'M') + p[0].toFixed(1) + ' ' + p[1].toFixed(1)).join('');
	}

	function drawChart(ch) {
		const tl = D.timeline, meta = METRICS[ch.m.name] || { title: ch.m.name, unit: '', fmt: short };
		const W = Math.max(260, ch.box.clientWidth - 20), H = 150;
		const L = 50, R = 10, T = 8, B = 20, pw = W - L - R, ph = H - T - B;
		const iv = tl.interval_s, dur = Math.max(D.duration_s || 0, iv);
		const vals = ch.m.values.map(a => a.map(v => meta.rate ? v / iv : v));
		const peak = Math.max(0, ...vals.map(a => Math.max(0, ...a)));
		const ax = niceAxis(peak, meta.axis === bytes), ymax = ax.max;
		const x = t => L + pw * Math.min(t, dur) / dur;
		const y = v => T + ph - ph * v / ymax;
		const tx = i => x(Math.min((i + 0.5) * iv, dur));
		const svg = s('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H });
		const grid = s('g', { cls: 'grid' }), axis = s('g', { cls: 'axis' });
		const nt = peak > 0 ? Math.round(ymax / ax.step) : 0;
		for (let k = 0; k <= nt; k++) {
			const v = ax.step * k, yy = y(v);
			grid.appendChild(s('line', { x1: L, x2: W - R, y1: yy, y2: yy }));
			if (nt <= 6 || k % 2 === 0)
				axis.appendChild(s('text', { x: L - 6, y: yy + 3.5, 'text-anchor': 'end', text: (meta.axis || meta.fmt)(v) }));
		}
		const step = timeStep(dur, pw);
		for (let t = 0; t <= dur + 1e-9; t += step)
			axis.appendChild(s('text', { x: x(t), y: H - 5, 'text-anchor': t === 0 ? 'start' : 'middle', text: timeLabel(t) }));
		svg.appendChild(grid);
		svg.appendChild(axis);
		svg.appendChild(marksLayer(ch, x, T, ph));
		const series = s('g', { cls: 'series' });
		vals.forEach((a, i) => {
			const name = tl.causes[i], color = causeColor.get(name);
			const sel = state.cause === name, faded = state.cause && !sel;
			const pts = a.map((v, b) => [tx(b), y(v)]);
			if (sel && pts.length)
				series.appendChild(s('path', { cls: 'area', fill: color,
					d: linePath(pts) + 'L' + pts[pts.length - 1][0].toFixed(1) + ' ' + (T + ph) + 'L' + pts[0][0].toFixed(1) + ' ' + (T + ph) + 'Z' }));
			series.appendChild(s('path', { d: linePath(pts), stroke: color, 'data-cause': name,
				cls: sel ? 'sel' : faded ? 'faded' : null }));
		});
		// the selected line on top
		const top = series.querySelector('path.sel');
		if (top)
			series.appendChild(top);
		svg.appendChild(series);
		if (!(peak > 0))
			svg.appendChild(s('text', { cls: 'nodata', x: L + pw / 2, y: T + ph / 2, 'text-anchor': 'middle', text: 'no activity' }));
		const cross = s('line', { cls: 'cross hidden', y1: T, y2: T + ph });
		svg.appendChild(cross);
		svg.appendChild(s('rect', { x: L, y: T, width: pw, height: ph, fill: 'transparent',
			onmousemove: ev => chartHover(ev, ch, { x, tx, vals, meta, cross, svg, iv }),
			onmouseleave: () => {
				cross.classList.add('hidden');
				hideTip();
			} }));
		ch.plot.textContent = '';
		ch.plot.appendChild(svg);
	}

	function visibleMarks() {
		return (D.timeline.marks || []).map(m => ({ t: m[0], kind: m[1], pid: m[2], detail: m[3], cause: m[4] }));
	}

	function marksLayer(ch, x, T, ph) {
		const g = s('g', { cls: 'marks' });
		for (const mk of TL.marks) {
			const st = MARKS[mk.kind] || MARKS.exit;
			const mine = !state.cause || mk.cause === state.cause;
			const xx = x(mk.t);
			g.appendChild(s('line', { x1: xx, x2: xx, y1: T, y2: T + ph, stroke: st.color,
				'stroke-width': st.width, 'stroke-dasharray': st.dash || null,
				opacity: (st.opacity || 0.9) * (mine ? 1 : 0.25) }));
			if (mk.kind === 'oom_kill' || mk.kind === 'trigger')
				g.appendChild(s('path', { d: 'M' + (xx - 4) + ' ' + (T - 1) + 'L' + (xx + 4) + ' ' + (T - 1) + 'L' + xx + ' ' + (T + 6) + 'Z',
					fill: st.color, opacity: mine ? 1 : 0.3 }));
		}
		return g;
	}

	function chartHover(ev, ch, c) {
		const r = c.svg.getBoundingClientRect();
		const px = ev.clientX - r.left;
		let near = null, best = 5;
		for (const mk of TL.marks) {
			const d = Math.abs(c.x(mk.t) - px);
			if (d < best || (near && d === best && mk.kind === 'oom_kill')) {
				best = d;
				near = mk;
			}
		}
		const nb = c.vals.length ? c.vals[0].length : 0;
		let b = 0, bd = Infinity;
		for (let i = 0; i < nb; i++) {
			const d = Math.abs(c.tx(i) - px);
			if (d < bd) {
				bd = d;
				b = i;
			}
		}
		c.cross.setAttribute('x1', near ? c.x(near.t) : c.tx(b));
		c.cross.setAttribute('x2', near ? c.x(near.t) : c.tx(b));
		c.cross.classList.remove('hidden');
		if (near) {
			const st = MARKS[near.kind] || MARKS.exit;
			showTip(ev, [h('div', { cls: 't', text: st.label + ' at ' + near.t.toFixed(3) + ' s' }),
				h('div', { text: 'pid ' + near.pid + (near.cause ? ' \u00b7 ' + near.cause : '') }),
				near.detail ? h('div', { cls: 'm', text: near.detail }) : null]);
			return;
		}
		const tl = D.timeline;
		const rows = c.vals.map((a, i) => [tl.causes[i], a[b]]).filter(r2 => r2[1] > 0).sort((p, q) => q[1] - p[1]);
		const t0 = b * c.iv, t1 = Math.min((b + 1) * c.iv, D.duration_s || (b + 1) * c.iv);
		showTip(ev, [h('div', { cls: 't', text: c.meta.title + ', ' + timeLabel(t0) + '\u2013' + timeLabel(Number(t1.toFixed(1))) }),
			rows.length ? rows.map(r2 => tipRow(r2[0], c.meta.fmt(r2[1]), causeColor.get(r2[0]))) :
				h('div', { cls: 'm', text: 'nothing from the top causes' })]);
	}

	function timelineLegend() {
		const tl = D.timeline;
		const items = tl.causes.map(n => h('span', { cls: 'item click' + (state.cause && state.cause !== n ? ' dim' : ''),
			title: 'focus ' + n, onclick: () => selectCause(state.cause === n ? null : n) },
		[h('i', { cls: 'swatch', style: { background: causeColor.get(n) } }), n]));
		return h('div', { cls: 'legend', id: 'timeline-legend' }, items);
	}

	function markLegend() {
		const counts = {};
		for (const mk of TL.marks)
			counts[mk.kind] = (counts[mk.kind] || 0) + 1;
		const items = Object.keys(MARKS).filter(k => counts[k]).map(k => h('span', { cls: 'item' },
			[h('i', { cls: 'mk', style: { background: MARKS[k].color } }), MARKS[k].label + ' (' + num(counts[k]) + ')']));
		const om = D.timeline.marks_omitted || {};
		const left = Object.keys(om).map(k => num(om[k]) + ' ' + (MARKS[k] ? MARKS[k].label : k));
		if (left.length)
			items.push(h('span', { cls: 'item muted', text: left.join(', ') + ' not drawn (too many)' }));
		return items.length ? h('div', { cls: 'marklegend' }, items) : null;
	}

	function timelineCard() {
		const tl = D.timeline;
		const card = h('section', { cls: 'card', id: 'timeline' });
		const more = (D.causes || []).length - tl.causes.length;
		card.appendChild(h('div', { cls: 'card-head' }, [h('h2', { text: 'Timeline' }),
			h('span', { cls: 'sub', text: 'one point per ' + tl.interval_s + ' s \u00b7 top ' + tl.causes.length +
				' causes' + (more > 0 ? ' (' + more + ' more not drawn)' : '') + ' \u00b7 hover for values' })]));
		if (!tl.metrics.length || !tl.causes.length) {
			card.appendChild(h('div', { cls: 'empty', text: 'Nothing to draw.' }));
			return card;
		}
		TL.marks = visibleMarks();
		TL.legend = h('div', { cls: 'card-body', style: { paddingBottom: '0' } }, [timelineLegend(), markLegend()]);
		card.appendChild(TL.legend);
		const grid = h('div', { cls: 'charts' });
		for (const m of tl.metrics) {
			const meta = METRICS[m.name] || { title: m.name, unit: '' };
			const plot = h('div', { cls: 'plot' });
			const box = h('div', { cls: 'chart', 'data-metric': m.name }, [h('h3', null, [meta.title + ' ',
				h('span', { cls: 'unit', text: meta.unit })]), plot]);
			grid.appendChild(box);
			TL.charts.push({ m: m, box: box, plot: plot });
		}
		card.appendChild(grid);
		return card;
	}

	function drawTimeline() {
		if (!TL.charts.length)
			return;
		const legend = TL.legend.firstChild;
		legend.replaceWith(timelineLegend());
		for (const ch of TL.charts)
			drawChart(ch);
	}

	/* ---------- OOM, TLS, TCP tables ---------- */

	function table(cols, rows, opts) {
		return h('div', { cls: 'table-wrap' + (opts && opts.tall ? ' tall' : '') }, h('table', null, [
			h('thead', null, h('tr', null, cols.map(c => h('th', { cls: c.n ? 'n' : null, text: c.t, title: c.tip })))),
			h('tbody', null, rows.map(r => h('tr', { 'data-cause': r.cause || '' },
				cols.map(c => {
					const v = c.f(r);
					return h('td', { cls: (c.n ? 'n' : '') + (c.cls ? ' ' + c.cls : ''), title: c.title ? c.title(r) : null },
						v instanceof Node ? v : String(v));
				})))),
		]));
	}

	function simpleCard(id, title, sub, body) {
		return h('section', { cls: 'card', id: id }, [h('div', { cls: 'card-head' }, [h('h2', { text: title }),
			sub ? h('span', { cls: 'sub', text: sub }) : null]), body]);
	}

	function proc(comm, pid) {
		return (comm || '?') + ' [' + pid + ']';
	}

	function oomCard() {
		const o = D.ooms;
		if (!o.length)
			return simpleCard('ooms', 'OOM kills', '', h('div', { cls: 'empty', text: 'No process was killed by the OOM killer during the recording.' }));
		return simpleCard('ooms', 'OOM kills', o.length + ' kill' + (o.length === 1 ? '' : 's'), table([
			{ t: 'Time', n: true, f: r => r.time_s.toFixed(3) + ' s' },
			{ t: 'Victim', cls: 'mono', f: r => proc(r.victim_comm, r.victim_pid) },
			{ t: 'Cause', cls: 'trunc', f: r => r.cause || '\u2014', title: r => r.cause || '' },
			{ t: 'memcg', cls: 'trunc narrow mono muted', f: r => r.memcg || '\u2014', title: r => r.memcg || '' },
			{ t: 'Anon RSS', n: true, f: r => bytes(r.anon_rss_bytes) },
			{ t: 'File RSS', n: true, f: r => bytes(r.file_rss_bytes) },
			{ t: 'Shmem', n: true, f: r => bytes(r.shmem_rss_bytes) },
			{ t: 'Total VM', n: true, f: r => bytes(r.total_vm_bytes) },
			{ t: 'oom_score_adj', n: true, f: r => r.oom_score_adj },
			{ t: 'Allocating', cls: 'mono', f: r => proc(r.trigger_comm, r.trigger_pid), tip: 'the process whose allocation triggered the kill' },
		], o, { tall: true }));
	}

	const PHASES = [['key_exchange', '#e15759', 'key exchange'], ['signature', '#f28e2b', 'signature'],
		['rng', '#edc948', 'rng'], ['other', '#76b7b2', 'other handshake'], ['outside', '#c9d1dc', 'outside handshakes']];

	function phaseBar(r) {
		const p = r.cpu_by_phase, tot = PHASES.reduce((a, ph) => a + (p[ph[0]] || 0), 0);
		if (!(tot > 0))
			return h('span', { cls: 'muted', text: '\u2014' });
		const title = PHASES.map(ph => ph[2] + ' ' + pct(p[ph[0]] || 0, tot)).join(', ');
		return h('span', { title: fixed(tot, 2) + ' CPU-s: ' + title }, [h('span', { cls: 'phasebar' },
			PHASES.map(ph => h('i', { style: { width: (100 * (p[ph[0]] || 0) / tot) + '%', background: ph[1] } }))),
		' ' + fixed(tot, 2) + ' s']);
	}

	function tlsCard() {
		const t = D.tls;
		if (!t.length)
			return simpleCard('tls', 'TLS handshakes', '', h('div', { cls: 'empty', text: 'No TLS handshake was seen.' }));
		const lat = v => v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + ' ms' : v + ' \u00b5s';
		const legend = h('div', { cls: 'legend', style: { padding: '8px 16px 0' } }, PHASES.map(ph =>
			h('span', { cls: 'item' }, [h('i', { cls: 'swatch', style: { background: ph[1] } }), ph[2]])));
		return simpleCard('tls', 'TLS handshakes', t.length + ' process' + (t.length === 1 ? '' : 'es'), h('div', null, [legend, table([
			{ t: 'Process', cls: 'mono', f: r => proc(r.comm, r.pid), title: r => r.lib || '' },
			{ t: 'Cause', cls: 'trunc', f: r => r.cause || '\u2014', title: r => r.cause || '' },
			{ t: 'Handshakes', n: true, f: r => num(r.handshakes) },
			{ t: 'Peak /s', n: true, f: r => num(r.peak_per_s) },
			{ t: 'Full', n: true, f: r => num(r.full) },
			{ t: 'Resumed', n: true, f: r => num(r.resumed) },
			{ t: 'Reuse', n: true, f: r => pct(r.resumed, r.handshakes) },
			{ t: 'Failed', n: true, f: r => num(r.failed), cls: '' },
			{ t: 'Reneg.', n: true, f: r => num(r.renegotiations) },
			{ t: 'p50', n: true, f: r => lat(r.p50_us), tip: 'handshake latency' },
			{ t: 'p99', n: true, f: r => lat(r.p99_us), tip: 'handshake latency' },
			{ t: 'CPU by phase', f: phaseBar },
		], t, { tall: true })]));
	}

	function endpoint(a, p) {
		return (String(a).includes(':') ? '[' + a + ']' : a) + ':' + p;
	}

	function tcpCard() {
		const t = D.tcp;
		const sub = num(t.transitions) + ' transitions \u00b7 resets: ' + num(t.resets_received) + ' received, ' +
			num(t.resets_sent) + ' sent' + (t.resets_kept > t.resets.length ? ' \u00b7 first ' + t.resets.length + ' shown' : '');
		const parts = [];
		const c = t.cluster;
		if (c)
			parts.push(h('p', { cls: 'hint', text: c.resets + ' of ' + c.total + ' resets after 1 s or more idle came after ' +
				(c.idle_ms / 1000).toFixed(1) + ' s idle (' + (c.lo_ms / 1000).toFixed(1) + '\u2013' + (c.hi_ms / 1000).toFixed(1) +
				' s), none before ' + (c.min_ms / 1000).toFixed(1) + ' s: an idle timeout on the path (load balancer, NAT, firewall)?' }));
		if (!t.resets.length)
			parts.push(h('div', { cls: 'empty', text: 'No TCP reset was seen.' }));
		else
			parts.push(table([
				{ t: 'Time', n: true, f: r => r.time_s.toFixed(3) + ' s' },
				{ t: 'Dir', f: r => r.direction === 'sent' ? 'sent' : 'rcvd' },
				{ t: 'Process', cls: 'mono', f: r => r.pid ? proc(r.comm, r.pid) : '\u2014' },
				{ t: 'Cause', cls: 'trunc narrow', f: r => r.cause || '\u2014', title: r => r.cause || '' },
				{ t: 'Local', cls: 'mono', f: r => endpoint(r.laddr, r.lport) },
				{ t: 'Remote', cls: 'mono', f: r => endpoint(r.raddr, r.rport) },
				{ t: 'State', f: r => r.state || '\u2014' },
				{ t: 'Idle', n: true, f: r => ms(r.idle_ms), tip: 'time since the connection last received data' },
				{ t: 'Age', n: true, f: r => ms(r.age_ms), tip: 'time since the connection was created' },
			], t.resets, { tall: true }));
		return simpleCard('tcp', 'TCP resets', sub, h('div', { cls: parts.length > 1 || !t.resets.length ? 'card-body' : null }, parts));
	}

	/* ---------- selection ---------- */

	function selectCause(name) {
		if (name !== null && name !== undefined && !(D.causes || []).some(c => c.name === name))
			throw new Error('no cause named ' + name);
		state.cause = name === undefined ? null : name;
		state.zoom = null;
		document.querySelectorAll('#causes-table tr.cause-row').forEach(tr =>
			tr.classList.toggle('selected', tr.getAttribute('data-cause') === state.cause));
		for (const id of ['ooms', 'tls', 'tcp'])
			document.querySelectorAll('#' + id + ' tbody tr').forEach(tr =>
				tr.classList.toggle('dim', !!state.cause && tr.getAttribute('data-cause') !== state.cause));
		const chip = document.getElementById('sel-chip');
		chip.classList.toggle('hidden', !state.cause);
		chip.querySelector('.label').textContent = state.cause ? 'cause: ' + state.cause : '';
		chip.title = state.cause || '';
		const all = document.getElementById('all-causes');
		if (all) {
			all.disabled = !state.cause;
			all.classList.toggle('on', !!state.cause);
		}
		safe('flame graph', drawFlame);
		flameIdleStatus();
		safe('timeline', drawTimeline);
		return state.cause;
	}

	function pathOf(n) {
		const p = [];
		for (let x = n; x && x.kind !== 'root'; x = x.parent)
			p.unshift(x.name);
		return p;
	}

	/* ---------- page ---------- */

	function build() {
		const t0 = performance.now();
		document.body.appendChild(topbar());
		const main = h('main');
		document.body.appendChild(main);
		append(main, safe('summary', summary));
		main.appendChild(safe('causes', causesCard));
		main.appendChild(safe('flame graph', flameCard));
		main.appendChild(safe('timeline', timelineCard));
		if (D.ooms)
			main.appendChild(safe('OOM kills', oomCard));
		if (D.tls)
			main.appendChild(safe('TLS', tlsCard));
		if (D.tcp)
			main.appendChild(safe('TCP', tcpCard));
		main.appendChild(h('footer', { text: 'spiketrace report \u00b7 self-contained page, works offline \u00b7 ' +
			'report --format json has every number behind it' }));
		document.body.appendChild(tip);
		const t1 = performance.now();
		safe('flame graph', drawFlame);
		flameIdleStatus();
		const t2 = performance.now();
		safe('timeline', drawTimeline);
		ST.timings = { build_ms: t1 - t0, flame_ms: t2 - t1, timeline_ms: performance.now() - t2 };
		window.addEventListener('resize', debounce(() => {
			safe('flame graph', drawFlame);
			safe('timeline', drawTimeline);
		}, 120));
		document.addEventListener('keydown', ev => {
			if (ev.key === 'Escape' && ev.target !== FL.input && FL.tree) {
				zoomOut();
			} else if (ev.key === '/' && FL.input && ev.target.tagName !== 'INPUT') {
				ev.preventDefault();
				FL.input.focus();
			}
		});
	}

	Object.assign(ST, {
		data: D,
		selectCause: selectCause,
		selected: () => state.cause,
		zoomed: () => (state.zoom && state.zoom !== flameBase() ? state.zoom.name : null),
		zoomPath: () => (state.zoom ? pathOf(state.zoom) : []),
		zoomTo: name => {
			const f = FL.drawn.find(d => d.n.name === name && !d.above);
			if (!f)
				return false;
			state.zoom = f.n;
			drawFlame();
			return true;
		},
		resetZoom: () => {
			state.zoom = null;
			drawFlame();
		},
		search: q => {
			if (!FL.input)
				return { matched: 0, total: 0, text: '' };
			FL.input.value = q || '';
			setQuery(q || '');
			const base = flameBase();
			return { matched: FL.matched || 0, total: base ? base.v : 0, text: FL.match.textContent };
		},
		visibleFrames: () => FL.drawn.map(f => ({ name: f.n.name, path: pathOf(f.n), row: f.row,
			depth: f.n.depth, kind: f.n.kind, samples: f.n.v, x: f.x, w: f.w, above: f.above, match: !!f.match })),
		charts: () => document.querySelectorAll('#timeline .chart svg').length,
	});

	build();
	ST.ready = true;
})();
