// The refuge dashboard: one page, four views (#/overview, #/people, #/aid,
// #/queues), every figure read from the API with the bearer token of the
// person logged in.
//
// Rules this file keeps:
// - The token lives in one variable of this module: never in storage or a
//   cookie, so it ends with the tab (or at logout).
// - Only numbers the API returned are shown. Nothing is summed, subtracted,
//   accumulated or divided here, so a figure the API withholds (null, named
//   in its object's `suppressed` list) cannot be worked out from the page.
//   Withheld figures are marked as such: hatched in charts, "—" with an
//   explanation in tables and cards.
// - Every chart has the table of exactly the figures it draws beside it.
// - A 403 shows that the figure is not available for the role; nothing else
//   of the error is shown.

import {
  DEFAULT_TIMEZONE,
  LANGUAGES,
  chartLocale,
  codeLabel,
  formatDay,
  formatDayShort,
  formatInstant,
  formatNumber,
  formatShare,
  language,
  setLanguage,
  t,
} from './i18n.js';

const { Chart } = window;

// ---------------------------------------------------------------- state

/** The access token: in memory only. */
let token = null;
/** `GET /api/v1/me` of the person logged in. */
let me = null;
/** Reference lists (centers, items), loaded once per login. */
let reference = {};
/** The centers' timezone (Asia/Yerevan unless every center says another). */
let timeZone = DEFAULT_TIMEZONE;
/** Bumped at every page render: answers to an older render are dropped. */
let generation = 0;
/** The charts on the page, destroyed when it is left. */
const charts = new Set();
/** The time control's player, when playing. */
let player = null;

const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#6B6B6B', '#000000'];
const SECTORS = ['housing', 'food', 'fuel', 'transport'];

// ---------------------------------------------------------------- DOM

/** Creates an element: `h('p', { class: 'x', text: 'y' }, child...)`. */
function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') element.className = value;
    else if (name === 'text') element.textContent = value;
    else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

const $ = (selector) => document.querySelector(selector);

// ---------------------------------------------------------------- API

/** A refused or failed request: its status, and its problem if any. */
class ApiFailure extends Error {
  constructor(status, problem) {
    super(`HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params ?? {})) {
    if (value !== undefined && value !== null) search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Sends a request with the token; a 401 ends the session. */
async function request(method, path, params, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path + query(params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiFailure(0, null);
  }
  if (response.status === 401 && token && path !== '/api/v1/auth/logout') {
    sessionEnded();
    throw new ApiFailure(401, null);
  }
  return response;
}

/** `GET path?params` as JSON. */
async function api(path, params) {
  const response = await request('GET', path, params);
  if (!response.ok) {
    throw new ApiFailure(response.status, await response.json().catch(() => null));
  }
  return response.json();
}

/** The first `max` items of a paged list, and whether more remain. */
async function firstItems(path, params, max) {
  const page = await api(path, { ...params, limit: max });
  return { items: page.items, more: page.next_cursor !== null };
}

/** Loads the centers and items once per login (any role may read them). */
function centers() {
  reference.centers ??= api('/api/v1/centers').then((body) => {
    const zones = new Set(body.items.map((c) => c.timezone));
    if (zones.size === 1) timeZone = [...zones][0];
    return new Map(body.items.map((c) => [c.id, c]));
  });
  return reference.centers;
}

function items() {
  reference.items ??= api('/api/v1/items').then((body) => new Map(body.items.map((i) => [i.id, i])));
  return reference.items;
}

// ---------------------------------------------------------------- days

/** The local date (YYYY-MM-DD) of an instant in the centers' timezone. */
function localDay(instant) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(new Date(instant));
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part('year')}-${part('month')}-${part('day')}`;
}

function nextDay(day) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** The UTC offset of the centers' timezone at the start of `day` (`+04:00`). */
function offsetOn(day) {
  const [y, m, d] = day.split('-').map(Number);
  const name = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' })
    .formatToParts(new Date(Date.UTC(y, m - 1, d)))
    .find((p) => p.type === 'timeZoneName').value;
  return name === 'GMT' ? '+00:00' : name.slice(3);
}

/** Midnight at the start of a local day, RFC 3339 with its offset. */
function startOf(day) {
  return `${day}T00:00:00${offsetOn(day)}`;
}

/** Midnight at the end of a local day; undefined when that is still to come (the API's "now"). */
function endOf(day) {
  const end = startOf(nextDay(day));
  return Date.parse(end) > Date.now() ? undefined : end;
}

/** The local days from the first to the last arrival, at most `max` (the latest ones). */
function daysOf(summary, max = 400) {
  if (!summary.first_arrival || !summary.last_arrival) return [];
  const days = [];
  const last = localDay(summary.last_arrival);
  for (let day = localDay(summary.first_arrival); day <= last; day = nextDay(day)) days.push(day);
  return days.slice(-max);
}

// ---------------------------------------------------------------- figures

/** A panel: a titled section whose body is filled when its data arrives. */
function panel(id, title, { wide = false } = {}) {
  const body = h('div', { class: 'panel-body', 'aria-busy': 'true' }, h('p', { class: 'muted', text: t('loading') }));
  const section = h(
    'section',
    { class: wide ? 'panel wide' : 'panel', 'data-panel': id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title`, text: title }),
    body,
  );
  return { id, section, body };
}

/** Fills `target` (a panel) with `render(data)` once `promise` resolves, or says why not. */
async function fill(target, promise, render) {
  const at = generation;
  try {
    const data = await promise;
    if (at !== generation) return;
    target.body.replaceChildren();
    target.body.removeAttribute('aria-busy');
    render(data, target.body);
  } catch (error) {
    if (at !== generation) return;
    target.body.removeAttribute('aria-busy');
    target.body.replaceChildren(failure(error));
    if (!(error instanceof ApiFailure)) console.error(error);
  }
}

/** What a panel shows when its data cannot be had. */
function failure(error) {
  if (error instanceof ApiFailure && error.status === 403) {
    return h('p', { class: 'unavailable', 'data-unavailable': 'role', text: t('not_available') });
  }
  return h(
    'div',
    { class: 'unavailable', 'data-unavailable': 'error' },
    h('p', { text: t('load_failed') }),
    h('button', { type: 'button', onclick: () => route(), text: t('retry') }),
  );
}

/** The "—" of a withheld figure (or of one the API does not give), with its explanation. */
function missing(suppressed, k) {
  if (suppressed) {
    return h(
      'abbr',
      { class: 'suppressed', title: t('suppressed_title', { k_minus: k ? k - 1 : '' }) },
      '—',
      h('span', { class: 'visually-hidden', text: ` ${t('suppressed')}` }),
    );
  }
  return h(
    'abbr',
    { class: 'not-applicable', title: t('not_applicable_title') },
    '—',
    h('span', { class: 'visually-hidden', text: ` ${t('not_applicable')}` }),
  );
}

const FORMATS = {
  count: formatNumber,
  share: formatShare,
  day: formatDay,
  instant: (value) => formatInstant(value, timeZone),
  text: (value) => value,
};

/**
 * A cell: `{ value, kind, suppressed }` (or a bare value, shown as text).
 * `data-value` carries the API's value as JSON, so the figures can be
 * checked against the API; a withheld one is `null` with `data-suppressed`.
 */
function cell(spec, k, header = false) {
  const { value, kind = 'text', suppressed = false, label } = typeof spec === 'object' && spec !== null ? spec : { value: spec };
  const attrs = { 'data-value': JSON.stringify(value ?? null) };
  if (header) attrs.scope = 'row';
  if (value === null || value === undefined) {
    attrs['data-suppressed'] = suppressed ? 'true' : null;
    return h(header ? 'th' : 'td', attrs, missing(suppressed, k));
  }
  if (kind !== 'text') attrs.class = 'number';
  return h(header ? 'th' : 'td', attrs, label ?? FORMATS[kind](value));
}

/** A data table: the first column heads each row. */
function dataTable(id, caption, columns, rows, k) {
  return h(
    'table',
    { 'data-figure': id },
    h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, columns.map((column) => h('th', { scope: 'col', text: column })))),
    h(
      'tbody',
      {},
      rows.map((row) => h('tr', {}, row.map((spec, i) => cell(spec, k, i === 0)))),
    ),
  );
}

/** A table in a box that scrolls, reachable by keyboard. */
function scrolling(table, label) {
  return h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': label }, table);
}

/** The table beside a chart, open when short. */
function tableDetails(table, rows) {
  return h(
    'details',
    { class: 'data', open: rows <= 12 },
    h('summary', { text: t('data_table') }),
    scrolling(table, `${t('data_table')}: ${table.caption.textContent}`),
  );
}

/** The legend line for withheld figures, shown when a figure has any. */
function suppressionLegend(any) {
  return any ? h('p', { class: 'legend-suppressed' }, h('span', { class: 'hatch', 'aria-hidden': 'true' }), t('suppressed_legend')) : null;
}

/** A chart and the table of its figures; returns the Chart.js instance. */
function chartFigure(container, { id, title, config, columns, rows, k, tall = false, height }) {
  const canvas = h('canvas', { role: 'img', 'aria-label': t('chart_label', { title }), 'data-figure': id });
  const box = h('div', { class: tall ? 'chart-box tall' : 'chart-box' }, canvas);
  if (height) box.style.height = `${height}px`;
  const anySuppressed = config.data.datasets.some((d) => (d.suppressed ?? []).some(Boolean));
  container.append(
    h(
      'figure',
      { class: 'figure', 'data-figure': id },
      h('figcaption', { class: 'visually-hidden', text: title }),
      box,
      suppressionLegend(anySuppressed),
      tableDetails(dataTable(id, title, columns, rows, k), rows.length),
    ),
  );
  const chart = new Chart(canvas, config);
  charts.add(chart);
  return chart;
}

/** Replaces a chart's figures and table in place (the time control). */
function updateFigure(chart, { datasets, labels, columns, rows, k, title }) {
  chart.data.labels = labels;
  chart.data.datasets = datasets;
  chart.update('none');
  const figure = chart.canvas.closest('figure');
  const id = figure.dataset.figure;
  figure.querySelector('details .table-scroll').replaceChildren(dataTable(id, title, columns, rows, k));
  const anySuppressed = datasets.some((d) => (d.suppressed ?? []).some(Boolean));
  figure.querySelector('.legend-suppressed')?.remove();
  const legend = suppressionLegend(anySuppressed);
  if (legend) figure.querySelector('.chart-box').after(legend);
}

// ---------------------------------------------------------------- charts

/** A hatch pattern for withheld figures. */
let hatch = null;
function hatchPattern(ctx) {
  if (hatch) return hatch;
  const tile = document.createElement('canvas');
  tile.width = 8;
  tile.height = 8;
  const g = tile.getContext('2d');
  g.fillStyle = '#ffffff';
  g.fillRect(0, 0, 8, 8);
  g.strokeStyle = '#4d4d4d';
  g.lineWidth = 1.5;
  g.beginPath();
  g.moveTo(0, 8);
  g.lineTo(8, 0);
  g.moveTo(-2, 2);
  g.lineTo(2, -2);
  g.moveTo(6, 10);
  g.lineTo(10, 6);
  g.stroke();
  hatch = ctx.createPattern(tile, 'repeat');
  return hatch;
}

const MARKER = 14;

/**
 * Draws a hatched block at the base of every withheld figure (a dataset's
 * `suppressed[i]`), where its bar or point would be: a mark, not a value.
 */
const suppressedMarkers = {
  id: 'suppressedMarkers',
  afterDatasetsDraw(chart) {
    const { ctx, chartArea } = chart;
    const horizontal = chart.options.indexAxis === 'y';
    const labels = chart.data.labels.length || 1;
    const visible = chart.data.datasets.filter((_, i) => chart.isDatasetVisible(i)).length || 1;
    ctx.save();
    chart.data.datasets.forEach((dataset, di) => {
      if (!chart.isDatasetVisible(di) || !Array.isArray(dataset.suppressed)) return;
      const meta = chart.getDatasetMeta(di);
      const indexScale = horizontal ? meta.yScale : meta.xScale;
      const valueScale = horizontal ? meta.xScale : meta.yScale;
      let base = valueScale.getPixelForValue(0);
      if (!Number.isFinite(base)) base = horizontal ? chartArea.left : chartArea.bottom;
      base = horizontal
        ? Math.min(Math.max(base, chartArea.left), chartArea.right)
        : Math.min(Math.max(base, chartArea.top), chartArea.bottom);
      const reverse = Boolean(valueScale.options.reverse);
      dataset.suppressed.forEach((withheld, i) => {
        if (!withheld) return;
        const element = meta.data[i];
        const at = horizontal ? element?.y : element?.x;
        const size = horizontal ? element?.height : element?.width;
        const center = Number.isFinite(at) ? at : indexScale.getPixelForValue(i);
        const span = horizontal ? chartArea.bottom - chartArea.top : chartArea.right - chartArea.left;
        const thickness = Number.isFinite(size) && size > 0 ? size : Math.max(4, Math.min(16, span / labels / (visible + 1)));
        ctx.fillStyle = hatchPattern(ctx);
        ctx.strokeStyle = dataset.borderColor ?? '#4d4d4d';
        ctx.lineWidth = 1;
        let x;
        let y;
        let w;
        let hh;
        if (horizontal) {
          x = reverse ? base - MARKER : base;
          y = center - thickness / 2;
          w = MARKER;
          hh = thickness;
        } else {
          x = center - thickness / 2;
          y = reverse ? base : base - MARKER;
          w = thickness;
          hh = MARKER;
        }
        ctx.fillRect(x, y, w, hh);
        ctx.strokeRect(x, y, w, hh);
      });
    });
    ctx.restore();
  },
};

Chart.register(suppressedMarkers);
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
Chart.defaults.color = '#1f1f1f';
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;

/** A dataset of API figures: `values` drawn, `suppressed[i]` marking the withheld ones. */
function dataset(key, label, values, suppressed, color, extra = {}) {
  return {
    key,
    label,
    data: values,
    suppressed,
    backgroundColor: color,
    borderColor: color,
    ...extra,
  };
}

/** Chart.js options: value axis formatted as counts or shares, category axis as days if asked. */
function options({ horizontal = false, share = false, days = false, instants = false, reverse = false, legend = true, label } = {}) {
  const format = share ? formatShare : formatNumber;
  const labelOf = label ?? ((text) => text);
  const valueAxis = {
    beginAtZero: true,
    reverse,
    ticks: { callback: (value) => format(value) },
  };
  if (share) valueAxis.max = 1;
  const indexAxis = {
    ticks: {
      autoSkip: true,
      callback(value) {
        const label = this.getLabelForValue(value);
        if (days) return formatDayShort(label);
        if (instants) return formatInstant(label, timeZone);
        return labelOf(label);
      },
    },
  };
  return {
    locale: chartLocale(),
    indexAxis: horizontal ? 'y' : 'x',
    responsive: true,
    scales: horizontal ? { x: valueAxis, y: indexAxis } : { x: indexAxis, y: valueAxis },
    plugins: {
      legend: { display: legend, position: 'bottom' },
      tooltip: {
        callbacks: {
          title(items) {
            const label = items[0]?.label ?? '';
            if (days) return formatDay(label);
            if (instants) return formatInstant(label, timeZone);
            return labelOf(label);
          },
          label(item) {
            const value = item.raw;
            return `${item.dataset.label}: ${value === null ? t('suppressed') : format(value)}`;
          },
        },
      },
    },
  };
}

// ---------------------------------------------------------------- reports

/**
 * Download buttons for CSV reports. A download sends the token: the file is
 * fetched, held as a Blob, and saved through an object URL.
 */
function downloads(reports) {
  const status = h('p', { class: 'download-status', role: 'status', 'aria-live': 'polite' });
  const buttons = reports.map(({ report, params, labelKey }) =>
    h(
      'li',
      {},
      h('button', {
        type: 'button',
        class: 'download',
        'data-report': report,
        'data-params': query(params),
        text: t('download', { name: t(labelKey) }),
        onclick: () => download(report, params, t(labelKey), status),
      }),
    ),
  );
  const section = h(
    'section',
    { class: 'panel wide downloads', 'aria-labelledby': 'downloads-title' },
    h('h2', { id: 'downloads-title', text: t('downloads') }),
    h('ul', { class: 'download-list' }, buttons),
    status,
  );
  return section;
}

async function download(report, params, name, status) {
  status.textContent = t('downloading', { name });
  try {
    const response = await request('GET', `/api/v1/reports/${report}.csv`, params);
    if (!response.ok) throw new ApiFailure(response.status, null);
    const disposition = response.headers.get('Content-Disposition') ?? '';
    const filename = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `refuge-${report}.csv`;
    const url = URL.createObjectURL(await response.blob());
    const link = h('a', { href: url, download: filename, class: 'visually-hidden' });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    status.textContent = t('downloaded', { name });
  } catch (error) {
    status.textContent =
      error instanceof ApiFailure && error.status === 403 ? t('download_forbidden', { name }) : t('download_failed', { name });
  }
}

// ---------------------------------------------------------------- overview

function summaryCards(summary) {
  const k = summary.suppression.k;
  const population = formatNumber(summary.origin_population);
  const card = (field, label, value, suppressed, kind = 'count') =>
    h(
      'div',
      { class: 'card', 'data-field': field, 'data-value': JSON.stringify(value), 'data-suppressed': value === null && suppressed ? 'true' : null },
      h('dt', { text: label }),
      h('dd', {}, value === null ? missing(suppressed, k) : kind === 'share' ? formatShare(value) : formatNumber(value)),
    );
  const { registered, crossed } = summary;
  return [
    h('p', { class: 'as-of', text: t('as_of', { when: formatInstant(summary.as_of, timeZone) }) }),
    h(
      'dl',
      { class: 'cards' },
      card('registered.persons', t('registered_persons'), registered.persons, registered.suppressed.includes('persons')),
      card('registered.households', t('registered_households'), registered.households, registered.suppressed.includes('households')),
      card('crossed.people', t('crossed_people'), crossed.people, crossed.suppressed.includes('people')),
      card('crossed.vehicles', t('crossed_vehicles'), crossed.vehicles, crossed.suppressed.includes('vehicles')),
      card('backlog', t('backlog'), summary.backlog, summary.suppressed.includes('backlog')),
      card(
        'share_of_origin_population.crossed',
        t('share_crossed', { population }),
        summary.share_of_origin_population.crossed,
        summary.suppressed.includes('share_of_origin_population.crossed') || crossed.suppressed.includes('people'),
        'share',
      ),
      card(
        'share_of_origin_population.registered',
        t('share_registered', { population }),
        summary.share_of_origin_population.registered,
        summary.suppressed.includes('share_of_origin_population.registered') || registered.suppressed.includes('persons'),
        'share',
      ),
    ),
  ];
}

/** The per-day and cumulative figures of both sources, aligned on the registered buckets. */
function arrivalsFigures(registered, crossed, which) {
  const labels = registered.buckets;
  const byBucket = new Map(crossed.total.points.map((p) => [p.bucket, p]));
  const reg = registered.total.points;
  const cro = labels.map((bucket) => byBucket.get(bucket) ?? { new: null, cumulative: null, suppressed: [] });
  const pick = (points) => points.map((p) => p[which]);
  const withheld = (points) => points.map((p) => p.suppressed.includes(which));
  const datasets = [
    dataset('registered', t('registered'), pick(reg), withheld(reg), PALETTE[0]),
    dataset('crossed', t('crossed'), pick(cro), withheld(cro), PALETTE[1]),
  ];
  const rows = labels.map((bucket, i) => [
    { value: bucket, kind: 'day' },
    { value: reg[i][which], kind: 'count', suppressed: datasets[0].suppressed[i] },
    { value: cro[i][which], kind: 'count', suppressed: datasets[1].suppressed[i] },
  ]);
  const columns =
    which === 'new'
      ? [t('date'), t('new_registered'), t('new_crossed')]
      : [t('date'), t('cumulative_registered'), t('cumulative_crossed')];
  return { labels, datasets, rows, columns, k: registered.suppression.k };
}

/**
 * Registered and crossed per center. The API's per-center backlog is left
 * out: people cross at a border point and register at a hub (Kornidzor and
 * Goris in 2023), so it is positive at one and negative at the other; only
 * the overall backlog means something.
 */
function centersFigures(summary) {
  const list = summary.centers;
  const field = (name) => list.map((c) => c[name]);
  const withheld = (name) => list.map((c) => c.suppressed.includes(name));
  const datasets = [
    dataset('registered_persons', t('registered_persons'), field('registered_persons'), withheld('registered_persons'), PALETTE[0]),
    dataset('crossed_people', t('crossed_people'), field('crossed_people'), withheld('crossed_people'), PALETTE[1]),
  ];
  const rows = list.map((c) => [
    { value: c.code ?? c.center_id, label: c.name ? `${c.code} — ${c.name}` : undefined },
    { value: c.registered_persons, kind: 'count', suppressed: c.suppressed.includes('registered_persons') },
    { value: c.crossed_people, kind: 'count', suppressed: c.suppressed.includes('crossed_people') },
  ]);
  return {
    labels: list.map((c) => c.code ?? c.center_id),
    datasets,
    rows,
    columns: [t('center'), t('registered_persons'), t('crossed_people')],
    k: summary.suppression.k,
  };
}

async function overview(main) {
  const at = generation;
  const summaryPanel = panel('summary', t('summary'), { wide: true });
  const daily = panel('arrivals-daily', t('arrivals_daily'));
  const cumulative = panel('arrivals-cumulative', t('arrivals_cumulative'));
  const perCenter = panel('centers', t('centers_side_by_side'), { wide: true });
  const control = timeControl();
  main.append(
    control.section,
    h('div', { class: 'grid' }, summaryPanel.section, daily.section, cumulative.section, perCenter.section),
    downloads([{ report: 'displacement', labelKey: 'report_displacement' }]),
  );

  // The summary and the centers' timezone first, together; then both series.
  const first = Promise.all([api('/api/v1/stats/summary'), centers().catch(() => null)]).then(([summary]) => summary);
  let centerChart = null;
  fill(summaryPanel, first, (summary, body) => body.append(...summaryCards(summary)));
  fill(perCenter, first, (summary, body) => {
    const f = centersFigures(summary);
    centerChart = chartFigure(body, {
      id: 'centers',
      title: t('centers_side_by_side'),
      config: { type: 'bar', data: { labels: f.labels, datasets: f.datasets }, options: options() },
      ...f,
    });
    body.append(h('p', { class: 'muted', text: t('centers_backlog_note') }));
  });
  let summary;
  try {
    summary = await first;
  } catch {
    return;
  }
  if (at !== generation) return;
  const days = daysOf(summary);
  if (days.length === 0) {
    for (const p of [daily, cumulative]) {
      p.body.removeAttribute('aria-busy');
      p.body.replaceChildren(h('p', { class: 'muted', text: t('no_data') }));
    }
    return;
  }
  const from = startOf(days[0]);
  const series = (to) =>
    Promise.all([
      api('/api/v1/stats/arrivals', { source: 'registered', interval: 'day', from, to }),
      api('/api/v1/stats/arrivals', { source: 'crossed', interval: 'day', from, to }),
    ]);
  const initial = series(endOf(days[days.length - 1]));
  let dailyChart = null;
  let cumulativeChart = null;
  fill(daily, initial, ([registered, crossed], body) => {
    const f = arrivalsFigures(registered, crossed, 'new');
    dailyChart = chartFigure(body, {
      id: 'arrivals-daily',
      title: t('arrivals_daily'),
      config: { type: 'bar', data: { labels: f.labels, datasets: f.datasets }, options: options({ days: true }) },
      ...f,
    });
  });
  fill(cumulative, initial, ([registered, crossed], body) => {
    const f = arrivalsFigures(registered, crossed, 'cumulative');
    f.datasets.forEach((d) => Object.assign(d, { pointRadius: 2, fill: false, spanGaps: false }));
    cumulativeChart = chartFigure(body, {
      id: 'arrivals-cumulative',
      title: t('arrivals_cumulative'),
      config: { type: 'line', data: { labels: f.labels, datasets: f.datasets }, options: options({ days: true }) },
      ...f,
    });
  });
  await initial.catch(() => null);
  if (at !== generation) return;

  // The time control: each day is the summary as of its end and the series up to it.
  let latest = 0;
  control.enable(days, async (index) => {
    const ticket = ++latest;
    const day = days[index];
    const end = endOf(day);
    const [daySummary, [registered, crossed]] = await Promise.all([
      api('/api/v1/stats/summary', { as_of: end }),
      series(end),
    ]);
    if (ticket !== latest || at !== generation) return;
    summaryPanel.body.replaceChildren(...summaryCards(daySummary));
    if (centerChart) updateFigure(centerChart, { ...centersFigures(daySummary), title: t('centers_side_by_side') });
    if (dailyChart) updateFigure(dailyChart, { ...arrivalsFigures(registered, crossed, 'new'), title: t('arrivals_daily') });
    if (cumulativeChart) {
      const f = arrivalsFigures(registered, crossed, 'cumulative');
      f.datasets.forEach((d) => Object.assign(d, { pointRadius: 2, fill: false, spanGaps: false }));
      updateFigure(cumulativeChart, { ...f, title: t('arrivals_cumulative') });
    }
    main.dataset.day = day;
  });
}

/** The day slider and play button; `enable(days, show)` arms them. */
function timeControl() {
  const slider = h('input', { type: 'range', id: 'day-slider', min: 0, max: 0, value: 0, step: 1, disabled: true });
  const output = h('output', { id: 'day-output', for: 'day-slider' });
  const play = h('button', { type: 'button', id: 'play', disabled: true, 'aria-pressed': 'false', text: t('play') });
  const section = h(
    'section',
    { class: 'panel wide time-control', 'aria-labelledby': 'time-title' },
    h('h2', { id: 'time-title', text: t('time_control') }),
    h('div', { class: 'time-row' }, play, h('label', { for: 'day-slider', text: t('day') }), slider, output),
  );
  function enable(days, show) {
    const label = (i) => t('day_value', { day: formatDay(days[i]) });
    slider.max = String(days.length - 1);
    slider.value = String(days.length - 1);
    slider.disabled = false;
    play.disabled = false;
    output.textContent = label(days.length - 1);
    output.dataset.day = days[days.length - 1];
    slider.setAttribute('aria-valuetext', output.textContent);
    let pending = null;
    const move = async (i) => {
      output.textContent = label(i);
      output.dataset.day = days[i];
      slider.setAttribute('aria-valuetext', output.textContent);
      pending = show(i).catch(() => null);
      await pending;
    };
    slider.addEventListener('input', () => {
      stopPlaying();
      move(Number(slider.value));
    });
    play.addEventListener('click', async () => {
      if (player) {
        stopPlaying();
        return;
      }
      const me = { stopped: false };
      player = me;
      play.textContent = t('pause');
      play.setAttribute('aria-pressed', 'true');
      let i = Number(slider.value) >= days.length - 1 ? 0 : Number(slider.value) + 1;
      while (!me.stopped && i < days.length) {
        slider.value = String(i);
        await move(i);
        await new Promise((resolve) => setTimeout(resolve, 400));
        i += 1;
      }
      if (player === me) stopPlaying();
    });
    function stopPlaying() {
      if (player) player.stopped = true;
      player = null;
      play.textContent = t('play');
      play.setAttribute('aria-pressed', 'false');
    }
  }
  return { section, enable };
}

// ---------------------------------------------------------------- people

async function people(main) {
  const pyramid = panel('pyramid', t('pyramid'), { wide: true });
  const sizes = panel('household-sizes', t('households_by_size'));
  const needsTotal = panel('needs-total', t('needs_total'));
  const needsCenters = panel('needs-centers', t('needs_per_center'), { wide: true });
  main.append(
    h('div', { class: 'grid' }, pyramid.section, sizes.section, needsTotal.section, needsCenters.section),
    downloads([{ report: 'displacement', params: { disaggregate: 'sex_age' }, labelKey: 'report_displacement_sex_age' }]),
  );
  const demographics = api('/api/v1/stats/demographics');
  const needs = api('/api/v1/stats/needs');
  fill(pyramid, demographics, (body, target) => renderPyramid(body, target));
  fill(sizes, demographics, (d, target) => {
    const rows = d.households_by_size;
    const values = rows.map((r) => r.households);
    const withheld = rows.map((r) => r.suppressed.includes('households'));
    chartFigure(target, {
      id: 'household-sizes',
      title: t('households_by_size'),
      config: {
        type: 'bar',
        data: { labels: rows.map((r) => r.size), datasets: [dataset('households', t('households'), values, withheld, PALETTE[2])] },
        options: options({ legend: false }),
      },
      columns: [t('household_size'), t('households')],
      rows: rows.map((r, i) => [{ value: r.size, kind: 'count' }, { value: values[i], kind: 'count', suppressed: withheld[i] }]),
      k: d.suppression.k,
    });
  });
  fill(needsTotal, needs, (n, target) => {
    const codes = n.items.map((item) => item.code);
    const values = n.items.map((item) => item.persons);
    const withheld = n.items.map((item) => item.suppressed.includes('persons'));
    chartFigure(target, {
      id: 'needs-total',
      title: t('needs_total'),
      height: 60 + codes.length * 24,
      config: {
        type: 'bar',
        data: { labels: codes, datasets: [dataset('persons', t('persons'), values, withheld, PALETTE[3])] },
        options: options({ horizontal: true, legend: false }),
      },
      columns: [t('need'), t('persons')],
      rows: n.items.map((item, i) => [
        { value: item.code, label: `${item.code} — ${codeLabel('need', item.code)}` },
        { value: values[i], kind: 'count', suppressed: withheld[i] },
      ]),
      k: n.suppression.k,
    });
  });
  fill(needsCenters, needs, (n, target) => {
    const codes = n.items.map((item) => item.code);
    const centerList = n.items[0]?.centers ?? [];
    const of = (item, center) => item.centers.find((c) => c.center_id === center.center_id);
    const datasets = centerList.map((center, ci) =>
      dataset(
        center.center_id,
        center.code ?? center.center_id,
        n.items.map((item) => of(item, center)?.persons ?? null),
        n.items.map((item) => Boolean(of(item, center)?.suppressed.includes('persons'))),
        PALETTE[ci % PALETTE.length],
      ),
    );
    chartFigure(target, {
      id: 'needs-centers',
      title: t('needs_per_center'),
      height: 80 + codes.length * Math.max(24, centerList.length * 9),
      config: { type: 'bar', data: { labels: codes, datasets }, options: options({ horizontal: true }) },
      columns: [t('need'), ...centerList.map((c) => c.code ?? c.center_id)],
      rows: n.items.map((item, i) => [
        { value: item.code, label: `${item.code} — ${codeLabel('need', item.code)}` },
        ...datasets.map((d) => ({ value: d.data[i], kind: 'count', suppressed: d.suppressed[i] })),
      ]),
      k: n.suppression.k,
    });
  });
}

/** An age band as the API names it (`0-4`), or the language's word for `unknown`. */
function bandLabel(band) {
  return band === 'unknown' ? t('unknown') : band;
}

function renderPyramid(d, target) {
  const bands = d.pyramid.map((row) => row.age_band);
  const side = (sex, color, reverse) => {
    const values = d.pyramid.map((row) => row[sex]);
    const withheld = d.pyramid.map((row) => row.suppressed.includes(sex));
    return {
      type: 'bar',
      data: { labels: bands, datasets: [dataset(sex, t(sex), values, withheld, color)] },
      options: (() => {
        const o = options({ horizontal: true, reverse, legend: false, label: bandLabel });
        o.scales.y.reverse = true;
        o.scales.y.position = reverse ? 'right' : 'left';
        return o;
      })(),
    };
  };
  const female = side('female', PALETTE[3], true);
  const male = side('male', PALETTE[0], false);
  const halves = [
    ['pyramid-female', t('pyramid_female'), female],
    ['pyramid-male', t('pyramid_male'), male],
  ].map(([id, title, config]) => {
    const canvas = h('canvas', { role: 'img', 'aria-label': t('chart_label', { title }), 'data-figure': id });
    return { canvas, element: h('div', { class: 'pyramid-half' }, h('h3', { text: title }), h('div', { class: 'chart-box' }, canvas)), config };
  });
  const sexes = ['female', 'male', 'other', 'unknown', 'total'];
  const rows = d.pyramid.map((row) => [
    { value: row.age_band, label: bandLabel(row.age_band) },
    ...sexes.map((sex) => ({ value: row[sex], kind: 'count', suppressed: row.suppressed.includes(sex) })),
  ]);
  const any = female.data.datasets[0].suppressed.some(Boolean) || male.data.datasets[0].suppressed.some(Boolean);
  target.append(
    h(
      'figure',
      { class: 'figure', 'data-figure': 'pyramid' },
      h('figcaption', { class: 'visually-hidden', text: t('pyramid') }),
      h('div', { class: 'pyramid' }, halves.map((half) => half.element)),
      suppressionLegend(any),
      tableDetails(dataTable('pyramid', t('pyramid'), [t('age_band'), ...sexes.map((s) => t(s))], rows, d.suppression.k), rows.length),
    ),
  );
  const drawn = halves.map((half) => new Chart(half.canvas, half.config));
  // Both halves on one scale, as a pyramid is read.
  const max = Math.max(...drawn.map((chart) => chart.scales.x.max));
  for (const chart of drawn) {
    chart.options.scales.x.max = max;
    chart.update('none');
    charts.add(chart);
  }
}

// ---------------------------------------------------------------- aid

async function aid(main) {
  const coverage = panel('coverage', t('coverage'), { wide: true });
  const coverageCenters = panel('coverage-centers', t('coverage_latest'));
  const sphere = panel('sphere', t('sphere'));
  const provinces = panel('occupancy-provinces', t('occupancy_provinces'));
  const sites = panel('occupancy-sites', t('occupancy_sites'));
  const stock = panel('stock', t('stock'));
  const trips = panel('trips', t('trips'), { wide: true });
  main.append(
    h(
      'div',
      { class: 'grid' },
      coverage.section,
      coverageCenters.section,
      sphere.section,
      provinces.section,
      sites.section,
      stock.section,
      trips.section,
    ),
    downloads([
      { report: 'assistance', labelKey: 'report_assistance' },
      { report: 'shelters', labelKey: 'report_shelters' },
      { report: 'stock', labelKey: 'report_stock' },
      { report: 'transport', labelKey: 'report_transport' },
    ]),
  );
  // Everything that needs no range at once; coverage once the summary gives the days.
  const occupancy = api('/api/v1/occupancy');
  const siteList = api('/api/v1/sites');
  const levels = api('/api/v1/stock');
  const tripList = firstItems('/api/v1/trips', {}, 50);
  const names = Promise.all([centers(), items()]);
  const covered = Promise.all([api('/api/v1/stats/summary'), centers().catch(() => null)]).then(([summary]) => {
    const days = daysOf(summary, 370);
    if (days.length === 0) return null;
    // Aid goes on after the last arrival: the range runs 30 days past it.
    let last = days[days.length - 1];
    for (let i = 0; i < 30; i += 1) last = nextDay(last);
    return api('/api/v1/stats/coverage', { from: startOf(days[0]), to: endOf(last) });
  });
  fill(coverage, covered, (c, target) => {
    if (!c) {
      target.append(h('p', { class: 'muted', text: t('no_data') }));
      return;
    }
    const daysList = c.total.days;
    const datasets = SECTORS.map((sector, si) =>
      dataset(
        sector,
        t(`share_${sector}`),
        daysList.map((d) => d[sector].share),
        daysList.map((d) => d[sector].share === null && (d[sector].suppressed.length > 0 || d.suppressed.length > 0)),
        PALETTE[si],
        { pointRadius: 1, spanGaps: false },
      ),
    );
    const sectorCells = (d, sector) => [
      { value: d[sector].households, kind: 'count', suppressed: d[sector].suppressed.includes('households') },
      { value: d[sector].share, kind: 'share', suppressed: d[sector].share === null && (d[sector].suppressed.length > 0 || d.suppressed.length > 0) },
    ];
    chartFigure(target, {
      id: 'coverage',
      title: t('coverage'),
      config: { type: 'line', data: { labels: daysList.map((d) => d.date), datasets }, options: options({ days: true, share: true }) },
      columns: [
        t('date'),
        t('registered_households'),
        ...SECTORS.flatMap((s) => [`${t(s)}: ${t('households')}`, `${t(s)}: ${t('share')}`]),
      ],
      rows: daysList.map((d) => [
        { value: d.date, kind: 'day' },
        { value: d.registered_households, kind: 'count', suppressed: d.suppressed.includes('registered_households') },
        ...SECTORS.flatMap((s) => sectorCells(d, s)),
      ]),
      k: c.suppression.k,
    });
  });
  fill(coverageCenters, covered, (c, target) => {
    if (!c) {
      target.append(h('p', { class: 'muted', text: t('no_data') }));
      return;
    }
    const lastDays = c.centers.map((center) => center.days[center.days.length - 1] ?? null);
    const datasets = SECTORS.map((sector, si) =>
      dataset(
        sector,
        t(`share_${sector}`),
        lastDays.map((d) => (d ? d[sector].share : null)),
        lastDays.map((d) => Boolean(d) && d[sector].share === null && (d[sector].suppressed.length > 0 || d.suppressed.length > 0)),
        PALETTE[si],
      ),
    );
    chartFigure(target, {
      id: 'coverage-centers',
      title: t('coverage_latest'),
      config: { type: 'bar', data: { labels: c.centers.map((x) => x.code), datasets }, options: options({ share: true }) },
      columns: [t('center'), t('date'), ...SECTORS.map((s) => t(`share_${s}`))],
      rows: c.centers.map((center, i) => [
        { value: center.code },
        { value: lastDays[i]?.date ?? null, kind: 'day' },
        ...datasets.map((d) => ({ value: d.data[i], kind: 'share', suppressed: d.suppressed[i] })),
      ]),
      k: c.suppression.k,
    });
  });
  fill(sphere, covered, (c, target) => {
    if (!c) {
      target.append(h('p', { class: 'muted', text: t('no_data') }));
      return;
    }
    const space = c.sphere.living_space;
    const k = c.suppression.k;
    const fields = ['sites_with_area', 'sites_below_standard', 'persons_in_sites_with_area', 'persons_below_standard', 'persons_below_cold_climate_standard'];
    target.append(
      dataTable(
        'sphere-living-space',
        t('living_space', { standard: formatNumber(space.standard_m2_per_person), cold: formatNumber(space.cold_climate_m2_per_person) }),
        [t('sphere'), t('total')],
        fields.map((f) => [{ value: f, label: t(f) }, { value: space[f], kind: 'count', suppressed: space.suppressed.includes(f) }]),
        k,
      ),
    );
    const food = c.sphere.food_energy;
    const title = t('food_energy', { kcal: formatNumber(food.standard_kcal_per_person_day) });
    chartFigure(target, {
      id: 'food-energy',
      title,
      config: {
        type: 'bar',
        data: {
          labels: food.centers.map((x) => x.code),
          datasets: [
            dataset('kcal_distributed', t('kcal_distributed'), food.centers.map((x) => x.kcal_distributed), food.centers.map(() => false), PALETTE[2]),
            dataset('kcal_required', t('kcal_required'), food.centers.map((x) => x.kcal_required), food.centers.map((x) => (x.suppressed || []).includes('kcal_required')), PALETTE[6]),
          ],
        },
        options: options(),
      },
      columns: [t('center'), t('kcal_distributed'), t('kcal_required'), t('share')],
      rows: food.centers.map((x) => [
        { value: x.code },
        { value: x.kcal_distributed, kind: 'count' },
        { value: x.kcal_required, kind: 'count', suppressed: (x.suppressed || []).includes('kcal_required') },
        { value: x.share, kind: 'share', suppressed: (x.suppressed || []).includes('share') },
      ]),
      k,
    });
  });
  fill(provinces, occupancy, (o, target) => {
    const list = o.provinces;
    const label = (code) => `${code} — ${codeLabel('province', code)}`;
    target.append(h('p', { class: 'as-of', text: t('as_of', { when: formatInstant(o.as_of, timeZone) }) }));
    chartFigure(target, {
      id: 'occupancy-provinces',
      title: t('occupancy_provinces'),
      config: {
        type: 'bar',
        data: {
          labels: list.map((p) => p.province),
          datasets: [
            dataset('capacity_beds', t('capacity_beds'), list.map((p) => p.capacity_beds), list.map(() => false), PALETTE[6]),
            dataset('occupied_beds', t('occupied_beds'), list.map((p) => p.occupied_beds), list.map(() => false), PALETTE[0]),
          ],
        },
        options: options(),
      },
      columns: [t('province'), t('sites'), t('capacity_beds'), t('occupied_beds'), t('households'), t('state_provided_persons')],
      rows: [
        ...list.map((p) => [
          { value: p.province, label: label(p.province) },
          { value: p.sites, kind: 'count' },
          { value: p.capacity_beds, kind: 'count' },
          { value: p.occupied_beds, kind: 'count' },
          { value: p.households, kind: 'count' },
          { value: p.state_provided_persons, kind: 'count' },
        ]),
        [
          { value: 'total', label: t('total') },
          { value: o.total.sites, kind: 'count' },
          { value: o.total.capacity_beds, kind: 'count' },
          { value: o.total.occupied_beds, kind: 'count' },
          { value: o.total.households, kind: 'count' },
          { value: o.total.state_provided_persons, kind: 'count' },
        ],
      ],
    });
  });
  fill(sites, siteList, (s, target) => {
    const list = s.items;
    chartFigure(target, {
      id: 'occupancy-sites',
      title: t('occupancy_sites'),
      height: 80 + list.length * 30,
      config: {
        type: 'bar',
        data: {
          labels: list.map((x) => x.code),
          datasets: [
            dataset('capacity_beds', t('capacity_beds'), list.map((x) => x.capacity_beds), list.map(() => false), PALETTE[6]),
            dataset('occupied_beds', t('occupied_beds'), list.map((x) => x.occupied_beds), list.map(() => false), PALETTE[0]),
          ],
        },
        options: options({ horizontal: true }),
      },
      columns: [t('site'), t('province'), t('capacity_beds'), t('occupied_beds')],
      rows: list.map((x) => [
        { value: x.code, label: `${x.code} — ${x.name}` },
        { value: x.province, label: codeLabel('province', x.province) },
        { value: x.capacity_beds, kind: 'count' },
        { value: x.occupied_beds, kind: 'count' },
      ]),
    });
  });
  fill(stock, Promise.all([levels, names]), ([l, [centerMap, itemMap]], target) => renderStock(l, centerMap, itemMap, target));
  fill(trips, Promise.all([tripList, centers()]), ([list, centerMap], target) => {
    const rows = list.items;
    target.append(h('p', { class: 'muted', text: t('trips_shown', { count: formatNumber(rows.length) }) }));
    chartFigure(target, {
      id: 'trips',
      title: t('trips'),
      config: {
        type: 'bar',
        data: {
          labels: rows.map((x) => x.departs_at),
          datasets: [
            dataset('seats_taken', t('seats_taken'), rows.map((x) => x.seats_taken), rows.map(() => false), PALETTE[0]),
            dataset('seats_free', t('seats_free'), rows.map((x) => x.seats_free), rows.map(() => false), PALETTE[6]),
          ],
        },
        options: options({ instants: true }),
      },
      columns: [t('departs_at'), t('center'), t('destination'), t('vehicle'), t('seats'), t('seats_taken'), t('seats_free')],
      rows: rows.map((x) => [
        { value: x.departs_at, kind: 'instant' },
        { value: centerMap.get(x.center_id)?.code ?? x.center_id },
        {
          value: x.destination_province,
          label: [codeLabel('province', x.destination_province), x.destination_settlement].filter(Boolean).join(', '),
        },
        { value: x.vehicle },
        { value: x.seats, kind: 'count' },
        { value: x.seats_taken, kind: 'count' },
        { value: x.seats_free, kind: 'count' },
      ]),
    });
  });
}

function renderStock(levels, centerMap, itemMap, target) {
  const itemIds = [...new Set(levels.items.map((l) => l.item_id))];
  if (itemIds.length === 0) {
    target.append(h('p', { class: 'muted', text: t('no_data') }));
    return;
  }
  const itemName = (id) => {
    const item = itemMap.get(id);
    return item ? `${item.name} (${codeLabel('unit', item.unit)})` : id;
  };
  const select = h(
    'select',
    { id: 'stock-item' },
    itemIds.map((id) => h('option', { value: id, text: itemName(id) })),
  );
  const holder = h('div', {});
  target.append(h('p', { class: 'as-of', text: t('as_of', { when: formatInstant(levels.as_of, timeZone) }) }));
  target.append(h('div', { class: 'field' }, h('label', { for: 'stock-item', text: t('stock_item') }), select), holder);
  let chart = null;
  const show = () => {
    const chosen = levels.items.filter((l) => l.item_id === select.value);
    const code = (l) => centerMap.get(l.center_id)?.code ?? l.center_id;
    const figures = {
      labels: chosen.map(code),
      datasets: [dataset('quantity', itemName(select.value), chosen.map((l) => l.quantity), chosen.map(() => false), PALETTE[4])],
      columns: [t('center'), t('quantity')],
      rows: chosen.map((l) => [{ value: code(l) }, { value: l.quantity, kind: 'count' }]),
      title: `${t('stock')}: ${itemName(select.value)}`,
    };
    if (chart) {
      updateFigure(chart, figures);
    } else {
      chart = chartFigure(holder, {
        id: 'stock',
        title: figures.title,
        config: { type: 'bar', data: { labels: figures.labels, datasets: figures.datasets }, options: options({ legend: false }) },
        ...figures,
      });
    }
    chart.canvas.setAttribute('aria-label', t('chart_label', { title: figures.title }));
    chart.canvas.dataset.item = select.value;
  };
  // The first item some center holds is shown first.
  select.value = levels.items.find((l) => l.quantity !== 0)?.item_id ?? itemIds[0];
  select.addEventListener('change', show);
  show();
}

// ---------------------------------------------------------------- queues

async function queues(main) {
  const duplicates = panel('duplicates', t('duplicates'), { wide: true });
  const tracing = panel('tracing', t('tracing'), { wide: true });
  main.append(
    h('div', { class: 'grid' }, duplicates.section, tracing.section),
    downloads([{ report: 'reviews', labelKey: 'report_reviews' }]),
  );
  const LIMIT = 50;
  const count = (list) =>
    h('p', {
      class: 'queue-count',
      'data-count': list.items.length,
      'data-more': String(list.more),
      text: list.items.length === 0 ? t('queue_empty') : t(list.more ? 'queue_count_more' : 'queue_count', { count: formatNumber(list.items.length) }),
    });
  fill(duplicates, firstItems('/api/v1/duplicates', { status: 'pending' }, LIMIT), (list, target) => {
    target.append(count(list));
    if (list.items.length === 0) return;
    target.append(
      dataTable(
        'duplicates',
        t('duplicates'),
        [t('proposed_at'), t('score'), t('records_at')],
        list.items.map((pair) => [
          { value: pair.proposed_at, kind: 'instant' },
          { value: pair.score, kind: 'count' },
          { value: pair.records.map((r) => r.center_code).join(' · ') },
        ]),
      ),
    );
  });
  fill(tracing, firstItems('/api/v1/tracing-requests', { has_new_matches: 'true' }, LIMIT), (list, target) => {
    target.append(count(list));
    if (list.items.length === 0) return;
    target.append(
      dataTable(
        'tracing',
        t('tracing'),
        [t('opened_at'), t('center'), t('relationship'), t('new_matches')],
        list.items.map((request) => [
          { value: request.created_at, kind: 'instant' },
          { value: request.center_code },
          { value: request.relationship, label: codeLabel('relationship', request.relationship) },
          { value: request.matches.proposed, kind: 'count' },
        ]),
      ),
    );
  });
}

// ---------------------------------------------------------------- shell

const PAGES = { overview, people, aid, queues };

function pageName() {
  const match = /^#\/(\w+)/.exec(location.hash);
  return match && PAGES[match[1]] ? match[1] : 'overview';
}

/** Texts of the static page (index.html) in the current language. */
function translateShell() {
  document.title = t('app_title');
  for (const element of document.querySelectorAll('[data-i18n]')) element.textContent = t(element.dataset.i18n);
  const select = $('#language');
  select.replaceChildren(
    ...Object.entries(LANGUAGES).map(([code, { name }]) =>
      h('option', { value: code, lang: code, selected: code === language(), text: name }),
    ),
  );
  if (me) $('#who').textContent = t('signed_in_as', { username: me.username, role: t(`role_${me.role}`) });
}

function destroyCharts() {
  for (const chart of charts) chart.destroy();
  charts.clear();
  if (player) player.stopped = true;
  player = null;
}

/** Shows the page the address names (or the login form). */
async function route({ focus = false } = {}) {
  generation += 1;
  destroyCharts();
  translateShell();
  const loggedIn = token !== null && me !== null;
  $('#login').hidden = loggedIn;
  $('#app').hidden = !loggedIn;
  $('#session').hidden = !loggedIn;
  $('#nav').hidden = !loggedIn;
  if (!loggedIn) {
    $('#page').replaceChildren();
    return;
  }
  const name = pageName();
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const heading = h('h1', { id: 'page-title', tabindex: '-1', text: t(name) });
  const main = h('div', { class: 'page', 'data-page': name });
  $('#page').replaceChildren(heading, main);
  document.body.dataset.page = name;
  if (focus) heading.focus();
  await PAGES[name](main);
}

function sessionEnded() {
  token = null;
  me = null;
  reference = {};
  $('#login-message').textContent = t('session_ended');
  route();
}

async function login(event) {
  event.preventDefault();
  const form = event.target;
  const message = $('#login-message');
  const button = form.querySelector('button[type=submit]');
  message.textContent = t('logging_in');
  button.disabled = true;
  try {
    const response = await request('POST', '/api/v1/auth/login', null, {
      username: form.username.value,
      password: form.password.value,
    });
    if (response.status === 401 || response.status === 422 || response.status === 400) {
      message.textContent = t('login_failed');
      return;
    }
    if (response.status === 429) {
      message.textContent = t('login_throttled', { seconds: response.headers.get('Retry-After') ?? '60' });
      return;
    }
    if (!response.ok) {
      message.textContent = t('login_error');
      return;
    }
    const body = await response.json();
    if (body.password_change_required) {
      token = body.access_token;
      await request('POST', '/api/v1/auth/logout').catch(() => null);
      token = null;
      message.textContent = t('password_change_required');
      return;
    }
    token = body.access_token;
    me = await api('/api/v1/me');
    form.reset();
    message.textContent = '';
    if (!location.hash.startsWith('#/')) history.replaceState(null, '', '#/overview');
    route({ focus: true });
  } catch {
    if (!token) message.textContent = t('login_error');
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  if (token) await request('POST', '/api/v1/auth/logout').catch(() => null);
  token = null;
  me = null;
  reference = {};
  $('#login-message').textContent = '';
  route();
  $('#username').focus();
}

function start() {
  const preferred = (navigator.languages ?? [navigator.language]).some((l) => String(l).toLowerCase().startsWith('hy'));
  setLanguage(preferred ? 'hy' : 'en');
  $('#login-form').addEventListener('submit', login);
  $('#logout').addEventListener('click', logout);
  // The address's hash names the page: the skip link moves the focus instead.
  $('.skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    (token ? $('#page') : $('#username')).focus();
  });
  $('#language').addEventListener('change', (event) => {
    setLanguage(event.target.value);
    route();
  });
  window.addEventListener('hashchange', () => route({ focus: true }));
  route();
}

start();
