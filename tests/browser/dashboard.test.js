// The dashboard in a real browser (Debian's Chromium, driven by
// playwright-core), against a running server after a scaled replay of the
// exodus. Started by tests/browser/run, which passes:
//
//   REFUGE_URL              the server (http://127.0.0.1:PORT)
//   REFUGE_ADMIN_PASSWORD   the admin's password
//   REFUGE_ANALYST_PASSWORD the password of the account `analyst` (role analyst)
//   REFUGE_CHROMIUM         the browser (default /usr/bin/chromium)
//   REFUGE_SCREENSHOTS      where screenshots go (target/browser-screenshots/<backend>)
//
// What it checks: the figures each chart draws (Chart.js's own data) and
// each table shows equal the API's answers to the same requests, fetched
// here with the same token; withheld figures are marked exactly where the
// API returns null; the Armenian page is in Armenian with Armenian number
// formats; CSV downloads arrive; axe-core finds no serious or critical
// violation; no request leaves 127.0.0.1; the assets stay under 500 KB.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = process.env.REFUGE_URL ?? 'http://127.0.0.1:8080';
const ADMIN_PASSWORD = process.env.REFUGE_ADMIN_PASSWORD;
const ANALYST_PASSWORD = process.env.REFUGE_ANALYST_PASSWORD;
const SHOTS = process.env.REFUGE_SCREENSHOTS ?? path.join(here, '../../target/browser-screenshots/local');
const AXE = readFileSync(path.join(here, 'vendor/axe.min.js'), 'utf8');
const ORIGIN = new URL(BASE);
const PAGES = ['overview', 'people', 'aid', 'queues'];
const ASSET_BUDGET = 500 * 1024;

const ARMENIAN_NAV = {
  overview: 'Ընդհանուր ակնարկ',
  people: 'Մարդիկ',
  aid: 'Օգնություն',
  queues: 'Հերթեր',
};

let browser;
/** Requests that tried to leave 127.0.0.1 (aborted). */
const offsite = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.REFUGE_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  assert.deepEqual(offsite, [], 'no request may leave 127.0.0.1');
});

// ---------------------------------------------------------------- the API, as the test sees it

async function apiAs(token, url, init = {}) {
  const response = await fetch(new URL(url, BASE), {
    ...init,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) },
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null };
}

async function getJson(token, url) {
  const response = await apiAs(token, url);
  assert.equal(response.status, 200, `GET ${url}: ${response.text.slice(0, 200)}`);
  return response.json;
}

async function loginApi(username, password) {
  const response = await fetch(new URL('/api/v1/auth/login', BASE), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(response.status, 200, `login ${username}`);
  return (await response.json()).access_token;
}

/**
 * Something for the review queues: a person registered twice (a pending
 * possible duplicate) and a tracing request that matches someone who
 * agreed to be traced.
 */
async function queueSomething(token) {
  const centers = Object.fromEntries((await getJson(token, '/api/v1/centers')).items.map((c) => [c.code, c.id]));
  const household = async (code, members, at) => {
    const response = await apiAs(token, '/api/v1/households', {
      method: 'POST',
      body: JSON.stringify({ center_id: centers[code], arrived_at: at, origin_settlement: 'Ստեփանակերտ', intended_destination: 'AM-KT', members }),
    });
    assert.equal(response.status, 201, response.text);
    return response.json;
  };
  const anahit = { given_name: 'Անահիտ', family_name: 'Պետրոսյան', sex: 'female', relationship: 'head', birth_date: '1980-05-12', needs: [], tracing_consent: true };
  await household('GORIS', [anahit], '2023-10-21T10:00:00+04:00');
  const twice = await household('VAYK', [{ ...anahit, tracing_consent: false }], '2023-10-21T12:00:00+04:00');
  assert.ok(twice.possible_duplicates.length > 0, 'the second registration is a possible duplicate');
  const enquirer = await household(
    'YEREVAN',
    [{ given_name: 'Կարեն', family_name: 'Պետրոսյան', sex: 'male', relationship: 'head', birth_date: '1978-01-20', needs: [] }],
    '2023-10-21T14:00:00+04:00',
  );
  const request = await apiAs(token, '/api/v1/tracing-requests', {
    method: 'POST',
    body: JSON.stringify({
      enquirer_id: enquirer.members[0].id,
      relationship: 'sibling',
      sought: { given_name: 'Անահիտ', family_name: 'Պետրոսյան', sex: 'female', approximate_age: 43, origin_settlement: 'Ստեփանակերտ' },
    }),
  });
  assert.equal(request.status, 201, request.text);
  assert.ok(request.json.matches.proposed > 0, 'the tracing request has a match to review');
}

// ---------------------------------------------------------------- the browser

/** A tab on the dashboard, with every API request it makes and anything it logs as an error. */
async function open() {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-GB', acceptDownloads: true });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'data:' || url.protocol === 'blob:' || url.host === ORIGIN.host) return route.continue();
    offsite.push(url.href);
    return route.abort();
  });
  const page = await context.newPage();
  const tab = { context, page, requests: [], errors: [], assets: new Map(), token: null };
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith('/api/v1/')) tab.requests.push(url.pathname + url.search);
  });
  page.on('response', async (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith('/dashboard')) {
      const body = await response.body().catch(() => null);
      if (body && response.status() === 200) tab.assets.set(url.pathname, body.length);
    }
    if (url.pathname === '/api/v1/auth/login' && response.status() === 200) {
      tab.token = (await response.json()).access_token;
    }
  });
  page.on('pageerror', (error) => tab.errors.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // The browser logs every refused request; a 403 is the role's answer, shown as such.
    if (/status of 403/.test(message.text())) return;
    tab.errors.push(`console: ${message.text()}`);
  });
  await page.goto(BASE + '/');
  assert.equal(new URL(page.url()).pathname, '/dashboard/', '/ leads to the dashboard');
  return tab;
}

async function logIn(tab, username, password) {
  const { page } = tab;
  await page.fill('#username', username);
  await page.fill('#password', password);
  const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login'));
  await page.click('#login-form button[type=submit]');
  await answered;
  await page.waitForSelector('#page h1');
  assert.ok(tab.token, 'the test has the page token');
}

async function goTo(tab, name) {
  const { page } = tab;
  if ((await page.$(`.page[data-page="${name}"]`)) === null) {
    tab.requests.length = 0;
    await page.click(`#nav a[data-page="${name}"]`);
  }
  await page.waitForSelector(`.page[data-page="${name}"]`);
  await settled(page);
}

/** Waits until no panel is loading. */
async function settled(page) {
  await page.waitForFunction(() => document.querySelectorAll('[aria-busy="true"]').length === 0, null, { timeout: 15_000 });
}

/** The last API request the page made to `pathname` whose query includes `params`. */
function requested(tab, pathname, params = {}) {
  const matches = tab.requests.filter((url) => {
    const parsed = new URL(url, BASE);
    return parsed.pathname === pathname && Object.entries(params).every(([k, v]) => parsed.searchParams.get(k) === v);
  });
  assert.ok(matches.length > 0, `the page requested ${pathname} ${JSON.stringify(params)}`);
  return matches[matches.length - 1];
}

/** What a figure shows: Chart.js's data, and its table's cells. */
async function shown(page, id) {
  return page.evaluate((figure) => {
    const canvas = document.querySelector(`canvas[data-figure="${figure}"]`);
    const chart = canvas ? window.Chart.getChart(canvas) : null;
    const table = document.querySelector(`table[data-figure="${figure}"]`);
    return {
      canvas: canvas ? { role: canvas.getAttribute('role'), label: canvas.getAttribute('aria-label') } : null,
      chart: chart && {
        labels: chart.data.labels,
        datasets: chart.data.datasets.map((d) => ({ key: d.key, data: d.data, suppressed: d.suppressed })),
      },
      rows:
        table &&
        [...table.tBodies[0].rows].map((row) =>
          [...row.cells].map((c) => ({
            value: JSON.parse(c.dataset.value),
            suppressed: c.dataset.suppressed === 'true',
            marker: c.querySelector('abbr.suppressed') !== null,
            text: c.textContent.trim(),
          })),
        ),
    };
  }, id);
}

/**
 * Asserts that figure `id` draws and tabulates exactly `expected`:
 * `labels`, `datasets` [{ key, data, suppressed }], and `rows`, each a list
 * of [value, suppressed] for the numeric cells after the row's label.
 */
async function expectFigure(page, id, expected) {
  const actual = await shown(page, id);
  if (expected.datasets) {
    assert.ok(actual.chart, `${id}: a chart`);
    assert.equal(actual.canvas.role, 'img', `${id}: the canvas is an image`);
    assert.ok(actual.canvas.label.length > 10, `${id}: the canvas has a label`);
    assert.deepEqual(actual.chart.labels, expected.labels, `${id}: labels`);
    assert.deepEqual(
      actual.chart.datasets.map((d) => d.key),
      expected.datasets.map((d) => d.key),
      `${id}: datasets`,
    );
    expected.datasets.forEach((want, i) => {
      const got = actual.chart.datasets[i];
      assert.deepEqual(got.data, want.data, `${id}/${want.key}: the figures drawn equal the API's`);
      assert.deepEqual(got.suppressed, want.suppressed, `${id}/${want.key}: suppression markers where the API withholds`);
    });
  }
  assert.ok(actual.rows, `${id}: a data table`);
  assert.equal(actual.rows.length, expected.rows.length, `${id}: table rows`);
  expected.rows.forEach((want, r) => {
    const got = actual.rows[r];
    assert.deepEqual(got[0].value, want[0], `${id}: row ${r} heading`);
    const cells = got.slice(1);
    assert.equal(cells.length, want.length - 1, `${id}: row ${r} cells`);
    want.slice(1).forEach(([value, suppressed], c) => {
      assert.deepEqual(cells[c].value, value, `${id}: row ${r} cell ${c} equals the API's`);
      assert.equal(cells[c].suppressed, Boolean(suppressed), `${id}: row ${r} cell ${c} suppression`);
      assert.equal(cells[c].marker, Boolean(suppressed), `${id}: row ${r} cell ${c} marker`);
    });
  });
  return actual;
}

const listed = (object, field) => (object.suppressed || []).includes(field);
const points = (series, which) => series.total.points.map((p) => p[which]);
const withheld = (series, which) => series.total.points.map((p) => listed(p, which));

// ---------------------------------------------------------------- per page

async function checkOverview(tab) {
  const { page } = tab;
  await page.waitForSelector('canvas[data-figure="arrivals-cumulative"]');
  await settled(page);
  const summary = await getJson(tab.token, requested(tab, '/api/v1/stats/summary'));
  await checkSummary(tab, summary);
  // The default range: the local days from the first to the last arrival.
  const registeredUrl = requested(tab, '/api/v1/stats/arrivals', { source: 'registered' });
  const from = new URL(registeredUrl, BASE).searchParams.get('from');
  const firstDay = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Yerevan' }).format(new Date(summary.first_arrival));
  assert.equal(from, `${firstDay}T00:00:00+04:00`, 'the series start on the first day with arrivals');
  await checkSeries(tab, registeredUrl, requested(tab, '/api/v1/stats/arrivals', { source: 'crossed' }));
}

async function checkSummary(tab, summary) {
  const cards = await tab.page.$$eval('.card', (list) =>
    list.map((c) => ({ field: c.dataset.field, value: JSON.parse(c.dataset.value), suppressed: c.dataset.suppressed === 'true', text: c.querySelector('dd').textContent.trim() })),
  );
  const expected = {
    'registered.persons': [summary.registered.persons, listed(summary.registered, 'persons')],
    'registered.households': [summary.registered.households, listed(summary.registered, 'households')],
    'crossed.people': [summary.crossed.people, listed(summary.crossed, 'people')],
    'crossed.vehicles': [summary.crossed.vehicles, listed(summary.crossed, 'vehicles')],
    backlog: [summary.backlog, summary.backlog === null],
    'share_of_origin_population.crossed': [summary.share_of_origin_population.crossed, summary.share_of_origin_population.crossed === null],
    'share_of_origin_population.registered': [summary.share_of_origin_population.registered, summary.share_of_origin_population.registered === null],
  };
  assert.deepEqual(cards.map((c) => c.field), Object.keys(expected), 'summary cards');
  for (const card of cards) {
    const [value, suppressed] = expected[card.field];
    assert.deepEqual(card.value, value, `card ${card.field} equals the API's`);
    assert.equal(card.suppressed, suppressed, `card ${card.field} suppression marker`);
  }
  const centers = summary.centers;
  await expectFigure(tab.page, 'centers', {
    labels: centers.map((c) => c.code),
    datasets: ['registered_persons', 'crossed_people'].map((key) => ({
      key,
      data: centers.map((c) => c[key]),
      suppressed: centers.map((c) => listed(c, key)),
    })),
    rows: centers.map((c) => [c.code, ...['registered_persons', 'crossed_people'].map((key) => [c[key], listed(c, key)])]),
  });
  return cards;
}

async function checkSeries(tab, registeredUrl, crossedUrl) {
  const [registered, crossed] = await Promise.all([getJson(tab.token, registeredUrl), getJson(tab.token, crossedUrl)]);
  assert.deepEqual(crossed.buckets, registered.buckets, 'both sources have the same days');
  for (const [id, which] of [
    ['arrivals-daily', 'new'],
    ['arrivals-cumulative', 'cumulative'],
  ]) {
    await expectFigure(tab.page, id, {
      labels: registered.buckets,
      datasets: [
        { key: 'registered', data: points(registered, which), suppressed: withheld(registered, which) },
        { key: 'crossed', data: points(crossed, which), suppressed: withheld(crossed, which) },
      ],
      rows: registered.buckets.map((bucket, i) => [
        bucket,
        [registered.total.points[i][which], listed(registered.total.points[i], which)],
        [crossed.total.points[i][which], listed(crossed.total.points[i], which)],
      ]),
    });
  }
  return registered;
}

/** Moves the day slider back and checks the figures as of that day. */
async function checkTimeControl(tab) {
  const { page } = tab;
  const max = Number(await page.getAttribute('#day-slider', 'max'));
  assert.ok(max >= 3, 'several days to replay');
  const index = Math.floor(max / 2);
  tab.requests.length = 0;
  await page.fill('#day-slider', String(index));
  await page.waitForFunction(() => document.querySelector('.page').dataset.day !== undefined);
  await settled(page);
  const day = await page.$eval('.page', (p) => p.dataset.day);
  const summaryUrl = requested(tab, '/api/v1/stats/summary');
  const asOf = new URL(summaryUrl, BASE).searchParams.get('as_of');
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  assert.equal(asOf, `${next}T00:00:00+04:00`, 'the summary is as of the end of the chosen day');
  await checkSummary(tab, await getJson(tab.token, summaryUrl));
  const registered = await checkSeries(
    tab,
    requested(tab, '/api/v1/stats/arrivals', { source: 'registered' }),
    requested(tab, '/api/v1/stats/arrivals', { source: 'crossed' }),
  );
  assert.equal(registered.buckets[registered.buckets.length - 1], day, 'the series end on the chosen day');
  // Play replays from there on; pause stops it.
  await page.click('#play');
  await page.waitForFunction((start) => Number(document.querySelector('#day-slider').value) > start + 1, index, { timeout: 15_000 });
  await page.click('#play');
  assert.equal(await page.getAttribute('#play', 'aria-pressed'), 'false');
  await settled(page);
}

async function checkPeople(tab) {
  const { page } = tab;
  const demographics = await getJson(tab.token, requested(tab, '/api/v1/stats/demographics'));
  const needs = await getJson(tab.token, requested(tab, '/api/v1/stats/needs'));
  const bands = demographics.pyramid.map((r) => r.age_band);
  for (const sex of ['female', 'male']) {
    const actual = await shown(page, `pyramid-${sex}`);
    assert.deepEqual(actual.chart.labels, bands, `pyramid ${sex}: bands`);
    assert.deepEqual(actual.chart.datasets[0].data, demographics.pyramid.map((r) => r[sex]), `pyramid ${sex}: figures`);
    assert.deepEqual(actual.chart.datasets[0].suppressed, demographics.pyramid.map((r) => listed(r, sex)), `pyramid ${sex}: markers`);
  }
  const sexes = ['female', 'male', 'other', 'unknown', 'total'];
  await expectFigure(page, 'pyramid', {
    rows: demographics.pyramid.map((r) => [r.age_band, ...sexes.map((s) => [r[s], listed(r, s)])]),
  });
  const sizes = demographics.households_by_size;
  await expectFigure(page, 'household-sizes', {
    labels: sizes.map((r) => r.size),
    datasets: [{ key: 'households', data: sizes.map((r) => r.households), suppressed: sizes.map((r) => listed(r, 'households')) }],
    rows: sizes.map((r) => [r.size, [r.households, listed(r, 'households')]]),
  });
  await expectFigure(page, 'needs-total', {
    labels: needs.items.map((i) => i.code),
    datasets: [{ key: 'persons', data: needs.items.map((i) => i.persons), suppressed: needs.items.map((i) => listed(i, 'persons')) }],
    rows: needs.items.map((i) => [i.code, [i.persons, listed(i, 'persons')]]),
  });
  const centers = needs.items[0].centers;
  const at = (item, center) => item.centers.find((c) => c.center_id === center.center_id);
  await expectFigure(page, 'needs-centers', {
    labels: needs.items.map((i) => i.code),
    datasets: centers.map((center) => ({
      key: center.center_id,
      data: needs.items.map((i) => at(i, center).persons),
      suppressed: needs.items.map((i) => listed(at(i, center), 'persons')),
    })),
    rows: needs.items.map((i) => [i.code, ...centers.map((center) => [at(i, center).persons, listed(at(i, center), 'persons')])]),
  });
}

const SECTORS = ['housing', 'food', 'fuel', 'transport'];
/** A share is withheld when one of the counts it is made of is. */
const shareWithheld = (day, sector) => day[sector].share === null && (day[sector].households === null || day.registered_households === null);

async function checkAid(tab) {
  const { page } = tab;
  const coverage = await getJson(tab.token, requested(tab, '/api/v1/stats/coverage'));
  const days = coverage.total.days;
  await expectFigure(page, 'coverage', {
    labels: days.map((d) => d.date),
    datasets: SECTORS.map((s) => ({ key: s, data: days.map((d) => d[s].share), suppressed: days.map((d) => shareWithheld(d, s)) })),
    rows: days.map((d) => [
      d.date,
      [d.registered_households, listed(d, 'registered_households')],
      ...SECTORS.flatMap((s) => [
        [d[s].households, listed(d[s], 'households')],
        [d[s].share, shareWithheld(d, s)],
      ]),
    ]),
  });
  const last = coverage.centers.map((c) => c.days[c.days.length - 1]);
  await expectFigure(page, 'coverage-centers', {
    labels: coverage.centers.map((c) => c.code),
    datasets: SECTORS.map((s) => ({ key: s, data: last.map((d) => d[s].share), suppressed: last.map((d) => shareWithheld(d, s)) })),
    rows: coverage.centers.map((c, i) => [c.code, [last[i].date, false], ...SECTORS.map((s) => [last[i][s].share, shareWithheld(last[i], s)])]),
  });
  const space = coverage.sphere.living_space;
  const spaceFields = ['sites_with_area', 'sites_below_standard', 'persons_in_sites_with_area', 'persons_below_standard', 'persons_below_cold_climate_standard'];
  await expectFigure(page, 'sphere-living-space', { rows: spaceFields.map((f) => [f, [space[f], listed(space, f)]]) });
  const food = coverage.sphere.food_energy.centers;
  await expectFigure(page, 'food-energy', {
    labels: food.map((c) => c.code),
    datasets: ['kcal_distributed', 'kcal_required'].map((key) => ({ key, data: food.map((c) => c[key]), suppressed: food.map((c) => listed(c, key)) })),
    rows: food.map((c) => [c.code, [c.kcal_distributed, false], [c.kcal_required, listed(c, 'kcal_required')], [c.share, listed(c, 'share')]]),
  });
  const occupancy = await getJson(tab.token, requested(tab, '/api/v1/occupancy'));
  const provinceFields = ['sites', 'capacity_beds', 'occupied_beds', 'households', 'state_provided_persons'];
  await expectFigure(page, 'occupancy-provinces', {
    labels: occupancy.provinces.map((p) => p.province),
    datasets: ['capacity_beds', 'occupied_beds'].map((key) => ({ key, data: occupancy.provinces.map((p) => p[key]), suppressed: occupancy.provinces.map(() => false) })),
    rows: [
      ...occupancy.provinces.map((p) => [p.province, ...provinceFields.map((f) => [p[f], false])]),
      ['total', ...provinceFields.map((f) => [occupancy.total[f], false])],
    ],
  });
  const sites = (await getJson(tab.token, requested(tab, '/api/v1/sites'))).items;
  await expectFigure(page, 'occupancy-sites', {
    labels: sites.map((s) => s.code),
    datasets: ['capacity_beds', 'occupied_beds'].map((key) => ({ key, data: sites.map((s) => s[key]), suppressed: sites.map(() => false) })),
    rows: sites.map((s) => [s.code, [s.province, false], [s.capacity_beds, false], [s.occupied_beds, false]]),
  });
  await checkStock(tab);
  const trips = await getJson(tab.token, requested(tab, '/api/v1/trips'));
  const centers = new Map((await getJson(tab.token, '/api/v1/centers')).items.map((c) => [c.id, c.code]));
  await expectFigure(page, 'trips', {
    labels: trips.items.map((x) => x.departs_at),
    datasets: ['seats_taken', 'seats_free'].map((key) => ({ key, data: trips.items.map((x) => x[key]), suppressed: trips.items.map(() => false) })),
    rows: trips.items.map((x) => [
      x.departs_at,
      [centers.get(x.center_id), false],
      [x.destination_province, false],
      [x.vehicle, false],
      [x.seats, false],
      [x.seats_taken, false],
      [x.seats_free, false],
    ]),
  });
}

async function checkStock(tab) {
  const { page } = tab;
  const levels = await getJson(tab.token, requested(tab, '/api/v1/stock'));
  const centers = new Map((await getJson(tab.token, '/api/v1/centers')).items.map((c) => [c.id, c.code]));
  const options = await page.$$eval('#stock-item option', (list) => list.map((o) => o.value));
  assert.deepEqual(options, [...new Set(levels.items.map((l) => l.item_id))], 'every item in stock can be shown');
  for (const item of [options[0], options[options.length - 1]]) {
    await page.selectOption('#stock-item', item);
    const chosen = levels.items.filter((l) => l.item_id === item);
    await expectFigure(page, 'stock', {
      labels: chosen.map((l) => centers.get(l.center_id)),
      datasets: [{ key: 'quantity', data: chosen.map((l) => l.quantity), suppressed: chosen.map(() => false) }],
      rows: chosen.map((l) => [centers.get(l.center_id), [l.quantity, false]]),
    });
  }
}

async function checkQueues(tab) {
  const { page } = tab;
  const duplicates = await getJson(tab.token, requested(tab, '/api/v1/duplicates', { status: 'pending' }));
  const tracing = await getJson(tab.token, requested(tab, '/api/v1/tracing-requests', { has_new_matches: 'true' }));
  assert.ok(duplicates.items.length > 0 && tracing.items.length > 0, 'the queues hold something');
  const counts = await page.$$eval('.queue-count', (list) => list.map((p) => Number(p.dataset.count)));
  assert.deepEqual(counts, [duplicates.items.length, tracing.items.length], 'queue counts are the lists the API returned');
  await expectFigure(page, 'duplicates', {
    rows: duplicates.items.map((d) => [d.proposed_at, [d.score, false], [d.records.map((r) => r.center_code).join(' · '), false]]),
  });
  await expectFigure(page, 'tracing', {
    rows: tracing.items.map((r) => [r.created_at, [r.center_code, false], [r.relationship, false], [r.matches.proposed, false]]),
  });
}

const CHECKS = { overview: checkOverview, people: checkPeople, aid: checkAid, queues: checkQueues };

/** Clicks every download button of the page; each must save the API's CSV, or say that the role may not. */
async function checkDownloads(tab, forbidden = []) {
  const { page } = tab;
  const buttons = await page.$$eval('button.download', (list) => list.map((b) => ({ report: b.dataset.report, params: b.dataset.params })));
  for (const { report, params } of buttons) {
    const url = `/api/v1/reports/${report}.csv${params}`;
    const direct = await apiAs(tab.token, url);
    if (forbidden.includes(report)) {
      assert.equal(direct.status, 403, `${report} is refused to the role`);
      await page.click(`button.download[data-report="${report}"]`);
      await page.waitForFunction(() => /\S/.test(document.querySelector('.download-status').textContent) && !/…$/.test(document.querySelector('.download-status').textContent));
      const status = await page.textContent('.download-status');
      assert.match(status, /not available|հասանելի չէ/, `${report}: says the role may not`);
      continue;
    }
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`button.download[data-report="${report}"][data-params="${params}"]`)]);
    const saved = readFileSync(await download.path(), 'utf8');
    assert.equal(direct.status, 200, `${report}: the API answers`);
    assert.match(direct.headers.get('content-type'), /^text\/csv/, `${report}: CSV`);
    assert.match(download.suggestedFilename(), new RegExp(`^refuge-${report}.*\\.csv$`), `${report}: file name`);
    // Snapshots (`shelters`, stock levels) are as of the moment of the request.
    const now = (text) => text.replaceAll(new RegExp(`${new Date().toISOString().slice(0, 10)}T[0-9:.]+Z`, 'g'), 'NOW');
    assert.equal(now(saved), now(direct.text), `${report}: the file is the API's CSV`);
    assert.match(saved.split('\r\n')[0], /^[a-z0-9_]+(,[a-z0-9_]+)+$/, `${report}: a header row`);
  }
  return buttons.map((b) => b.report);
}

/** axe-core on the page as it is: no serious or critical violation. */
async function checkAccessibility(page, where) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`),
    [],
    `${where}: axe-core violations`,
  );
}

/** Nothing on the page is wider than a screen `width` pixels wide. */
async function checkFits(page, width, where) {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `${where}: ${scrollWidth} px wide on a ${width} px screen`);
}

async function screenshot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// ---------------------------------------------------------------- the tests

test('the assets are served from here, with their headers, under 500 KB', async () => {
  const tab = await open();
  const { page } = tab;
  await page.waitForSelector('#login-form');
  await checkAccessibility(page, 'login');
  await screenshot(page, 'login-en');
  const expected = ['/dashboard/', '/dashboard/app.css', '/dashboard/chart.umd.min.js', '/dashboard/app.js', '/dashboard/i18n.js'];
  assert.deepEqual([...tab.assets.keys()].sort(), [...expected].sort(), 'the page loads exactly its assets');
  let total = 0;
  for (const asset of expected) {
    const response = await fetch(new URL(asset, BASE));
    const body = Buffer.from(await response.arrayBuffer());
    total += body.length;
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-security-policy'), /default-src 'self'/);
    assert.doesNotMatch(response.headers.get('content-security-policy'), /unsafe-inline|unsafe-eval/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('cache-control'), 'no-cache');
    const etag = response.headers.get('etag');
    const again = await fetch(new URL(asset, BASE), { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304, `${asset}: revalidated`);
  }
  console.log(`dashboard assets: ${total} bytes (${(total / 1024).toFixed(1)} KiB) in ${expected.length} files`);
  assert.ok(total < ASSET_BUDGET, `all assets together under 500 KB (${total} bytes)`);
  assert.deepEqual(tab.errors, []);
  await tab.context.close();
});

test('an admin sees every page, drawn from the API, in English and in Armenian', async () => {
  const admin = await loginApi('admin', ADMIN_PASSWORD);
  await queueSomething(admin);
  const tab = await open();
  const { page } = tab;
  const submitted = Date.now();
  await logIn(tab, 'admin', ADMIN_PASSWORD);
  await page.waitForSelector('canvas[data-figure]');
  const firstChart = Date.now() - submitted;
  console.log(`first chart drawn ${firstChart} ms after the login was sent`);
  assert.ok(firstChart < 1000, `the first chart within 1 s (${firstChart} ms)`);
  const reports = {};
  for (const name of PAGES) {
    await goTo(tab, name);
    await CHECKS[name](tab);
    if (name === 'overview') await checkTimeControl(tab);
    reports[name] = await checkDownloads(tab);
    await checkAccessibility(page, `${name} (en)`);
    await checkFits(page, 1366, name);
    await screenshot(page, `${name}-en`);
  }
  // A tablet: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 768, height: 1024 });
  for (const name of PAGES) {
    await goTo(tab, name);
    await checkFits(page, 768, name);
    await screenshot(page, `${name}-tablet-en`);
  }
  await page.setViewportSize({ width: 1366, height: 768 });
  assert.deepEqual(reports, {
    overview: ['displacement'],
    people: ['displacement'],
    aid: ['assistance', 'shelters', 'stock', 'transport'],
    queues: ['reviews'],
  });

  // Armenian: the strings, <html lang> and the number and date formats
  // follow. The expected formats are Node's (full ICU), not the browser's.
  assert.ok(Intl.NumberFormat.supportedLocalesOf(['hy']).length > 0, 'this Node knows Armenian (full ICU)');
  const hy = (value, share) =>
    new Intl.NumberFormat('hy-AM', share ? { style: 'percent', maximumFractionDigits: 2 } : { maximumFractionDigits: 2 }).format(value);
  const en = (value, share) =>
    new Intl.NumberFormat('en-GB', share ? { style: 'percent', maximumFractionDigits: 2 } : { maximumFractionDigits: 2 }).format(value);
  await page.selectOption('#language', 'hy');
  await page.waitForFunction(() => document.documentElement.lang === 'hy');
  for (const name of PAGES) {
    await goTo(tab, name);
    assert.equal((await page.textContent(`#nav a[data-page="${name}"]`)).trim(), ARMENIAN_NAV[name]);
    assert.equal((await page.textContent('#page h1')).trim(), ARMENIAN_NAV[name]);
    await CHECKS[name](tab);
    await checkAccessibility(page, `${name} (hy)`);
    await screenshot(page, `${name}-hy`);
  }
  await goTo(tab, 'overview');
  assert.equal((await page.textContent('#logout')).trim(), 'Ելք');
  const cards = await page.$$eval('.card', (list) =>
    list.map((c) => ({ value: JSON.parse(c.dataset.value), text: c.querySelector('dd').textContent.trim(), share: c.dataset.field.startsWith('share') })),
  );
  const numbers = cards.filter((c) => c.value !== null);
  assert.deepEqual(numbers.map((c) => c.text), numbers.map((c) => hy(c.value, c.share)), 'numbers in Armenian format');
  assert.ok(numbers.some((c) => c.text !== en(c.value, c.share)), 'Armenian numbers differ from English ones');
  const table = (await shown(page, 'centers')).rows.flatMap((row) => row.slice(1)).filter((c) => c.value !== null);
  assert.deepEqual(table.map((c) => c.text), table.map((c) => hy(c.value, false)), 'table figures in Armenian format');
  const day = await page.$eval('#day-output', (o) => [o.dataset.day, o.textContent]);
  const [y, m, d] = day[0].split('-').map(Number);
  const hyDay = new Intl.DateTimeFormat('hy-AM', { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric' }).format(new Date(Date.UTC(y, m - 1, d)));
  assert.equal(day[1], `Մինչև ${hyDay}`, 'dates in Armenian');
  await page.selectOption('#language', 'en');
  await page.waitForFunction(() => document.documentElement.lang === 'en');

  // Logout forgets the token: the API refuses it, the page shows the login.
  const token = tab.token;
  await page.click('#logout');
  await page.waitForSelector('#login-form', { state: 'visible' });
  assert.equal((await apiAs(token, '/api/v1/me')).status, 401, 'the token is revoked');
  const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
  assert.deepEqual(stored, [0, 0, ''], 'nothing kept in the browser');
  assert.deepEqual(tab.errors, []);
  await tab.context.close();
});

test('an analyst sees suppressed figures marked where the API withholds them, and no queue', async () => {
  const tab = await open();
  const { page } = tab;
  await logIn(tab, 'analyst', ANALYST_PASSWORD);
  let markers = 0;
  for (const name of PAGES) {
    await goTo(tab, name);
    if (name === 'queues') {
      const panels = await page.$$eval('[data-unavailable]', (list) => list.map((p) => [p.dataset.unavailable, p.textContent.trim()]));
      assert.deepEqual(panels, [
        ['role', 'Not available for your role.'],
        ['role', 'Not available for your role.'],
      ]);
    } else {
      await CHECKS[name](tab);
    }
    markers += await page.$$eval('[data-suppressed="true"]', (list) => list.length);
    const forbidden = { aid: ['transport'], queues: ['reviews'] }[name] ?? [];
    await checkDownloads(tab, forbidden);
    await checkAccessibility(page, `${name} (analyst)`);
    await screenshot(page, `${name}-analyst-en`);
  }
  assert.ok(markers > 0, 'the analyst sees some suppressed figures');
  // The suppressed figures' markers: a hatched block in the chart, "—" in the table.
  await goTo(tab, 'people');
  const legend = await page.$$eval('.legend-suppressed', (list) => list.length);
  assert.ok(legend > 0, 'a legend explains the suppressed figures');
  await page.selectOption('#language', 'hy');
  await goTo(tab, 'people');
  await checkPeople(tab);
  await screenshot(page, 'people-analyst-hy');
  assert.deepEqual(tab.errors, []);
  await tab.context.close();
});
