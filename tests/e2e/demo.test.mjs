// End-to-end test of the storefront demo page (deploy/demo) in headless
// Chromium, against a running recs with RECS_DEMO_DIR set and the demo catalog
// loaded. tests/e2e/run.sh sets all of that up; to run it by hand:
//
//   RECS_DEMO_URL=http://127.0.0.1:8080 node --test tests/e2e/demo.test.mjs
//
// RECS_DEMO_URL   the service's base URL (the page is at /demo/ below it)
// RECS_DEMO_SCREENSHOT  if set, a PNG of the home page is written there
// RECS_CHROMIUM   the browser (default /usr/bin/chromium, Debian's package)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.RECS_DEMO_URL;
if (!BASE) throw new Error('RECS_DEMO_URL is not set (e.g. http://127.0.0.1:8080)');
const DEMO = new URL('/demo/', BASE).href;
const SCREENSHOT = process.env.RECS_DEMO_SCREENSHOT || '';
const EXECUTABLE = process.env.RECS_CHROMIUM || '/usr/bin/chromium';

// No internet here: without the background-networking flags Chromium keeps
// trying to reach Google's services and floods refused connections.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const DEFAULT_FEATURED = [
  'aeroglide-running-shoes',
  'house-espresso-blend-coffee-beans',
  'cast-iron-skillet-10-inch',
  'wireless-noise-cancelling-headphones',
  '2-person-backpacking-tent',
  'merino-wool-base-layer-top',
  'lavender-soy-candle',
];

const TIMEOUT = 60_000;
let browser;

before(async () => {
  browser = await chromium.launch({ executablePath: EXECUTABLE, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
});

// A fresh page that records console errors and uncaught exceptions.
async function openPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push({ kind: 'console', text: msg.text(), url: msg.location().url });
  });
  page.on('pageerror', (err) => problems.push({ kind: 'pageerror', text: String(err && err.stack || err) }));
  return { context, page, problems };
}

// Asserts no console error or page error, but the browser's own "Failed to
// load resource" line for the given expected HTTP statuses.
function assertNoProblems(problems, expectedStatuses = []) {
  const unexpected = problems.filter((p) => {
    if (p.kind !== 'console') return true;
    const m = /^Failed to load resource: the server responded with a status of (\d+)/.exec(p.text);
    return !(m && expectedStatuses.includes(Number(m[1])));
  });
  assert.deepEqual(unexpected, [], 'console errors or page errors');
}

// Waits until the current view has finished loading (ready or error).
async function settled(page, view) {
  await page.waitForSelector(`#app[data-view="${view}"]:not([data-state="loading"])`, { state: 'attached' });
}

// Reads the recommendation rows under a root element.
function readRecommendations(root) {
  return root.locator('[data-testid="recommendation"]').evaluateAll((links) => links.map((a) => {
    const score = a.querySelector('[data-testid="score"]');
    return {
      slug: a.dataset.slug,
      href: a.getAttribute('href'),
      title: a.querySelector('[data-testid="rec-title"]').textContent,
      category: a.querySelector('[data-testid="category"]').textContent,
      price: a.querySelector('[data-testid="price"]').textContent,
      score: score.textContent,
      raw: score.dataset.score,
      tooltip: score.getAttribute('title'),
    };
  }));
}

function assertScore(rec) {
  const m = /^(\d{1,3}\.\d)%$/.exec(rec.score);
  assert.ok(m, `score "${rec.score}" of ${rec.slug} is a percentage with one decimal`);
  const pct = Number(m[1]);
  assert.ok(pct >= 0 && pct <= 100, `score ${pct} of ${rec.slug} is within 0..100`);
  const raw = Number(rec.raw);
  assert.ok(Number.isFinite(raw) && raw >= 0 && raw <= 1, `raw score ${rec.raw} of ${rec.slug}`);
  assert.equal(pct.toFixed(1), (raw * 100).toFixed(1), 'the percentage is the raw score');
  assert.ok(rec.tooltip.includes(rec.raw), `the title attribute "${rec.tooltip}" shows the raw score`);
}

test('home page shows every featured product with its recommendations', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    const response = await page.goto(DEMO);
    assert.equal(response.status(), 200);
    await settled(page, 'home');
    assert.equal(await page.locator('#app').getAttribute('data-state'), 'ready');

    const cards = page.locator('[data-testid="product-card"]');
    const slugs = await cards.evaluateAll((els) => els.map((e) => e.dataset.slug));
    assert.deepEqual(slugs, DEFAULT_FEATURED, 'the default featured products, in order');
    assert.equal(await page.locator('[data-testid="error"]').count(), 0, 'no error on the home page');

    for (let i = 0; i < slugs.length; i++) {
      const card = cards.nth(i);
      assert.equal(await card.getAttribute('data-state'), 'ready', `${slugs[i]} loaded`);
      const title = (await card.locator('[data-testid="product-title"]').textContent()).trim();
      assert.ok(title.length > 0 && title !== slugs[i], `${slugs[i]} shows its title, got "${title}"`);
      const recs = await readRecommendations(card);
      assert.ok(recs.length >= 1 && recs.length <= 4, `${slugs[i]} has 1..4 recommendations, got ${recs.length}`);
      for (const rec of recs) {
        assertScore(rec);
        assert.ok(rec.title.trim().length > 0, 'a recommendation has a title');
        assert.ok(rec.category.trim().length > 0, 'a recommendation has a category label');
        assert.match(rec.price, /^\$\d{1,3}(,\d{3})*\.\d{2}$/, `price of ${rec.slug}`);
        assert.notEqual(rec.slug, slugs[i], 'a product is not its own recommendation');
      }
    }

    const shoes = await readRecommendations(page.locator('[data-testid="product-card"][data-slug="aeroglide-running-shoes"]'));
    assert.equal(shoes[0].slug, 'womens-aeroglide-running-shoes');
    assert.equal(shoes[0].title, "Women's AeroGlide Running Shoes");
    assert.equal(shoes[0].category, 'Shoes');
    assert.equal(shoes[0].price, '$119.99');
    const top = Number(shoes[0].raw);
    assert.ok(top > 0.3 && top < 0.5, `top score of aeroglide-running-shoes is about 0.40, got ${top}`);
    assert.ok(shoes.every((r, i) => i === 0 || Number(r.raw) <= Number(shoes[i - 1].raw)), 'best match first');

    assertNoProblems(problems);
  } finally {
    await context.close();
  }
});

test('?slugs= overrides the featured products', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    await page.goto(DEMO + '?slugs=lavender-soy-candle,cast-iron-skillet-10-inch');
    await settled(page, 'home');
    const slugs = await page.locator('[data-testid="product-card"]').evaluateAll((els) => els.map((e) => e.dataset.slug));
    assert.deepEqual(slugs, ['lavender-soy-candle', 'cast-iron-skillet-10-inch']);
    assert.ok(await page.locator('[data-testid="recommendation"]').count() >= 2);
    assertNoProblems(problems);
  } finally {
    await context.close();
  }
});

test('a recommendation opens its detail view, and back returns', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    await page.goto(DEMO);
    await settled(page, 'home');
    const cardCount = await page.locator('[data-testid="product-card"]').count();

    const first = page.locator('[data-testid="product-card"][data-slug="cast-iron-skillet-10-inch"] [data-testid="recommendation"]').first();
    const slug = await first.getAttribute('data-slug');
    const title = await first.locator('[data-testid="rec-title"]').textContent();
    await first.click();

    await settled(page, 'detail');
    assert.equal(await page.locator('#app').getAttribute('data-state'), 'ready');
    assert.equal(new URL(page.url()).searchParams.get('product'), slug, 'the URL names the product');
    assert.equal((await page.locator('[data-testid="detail-title"]').textContent()).trim(), title);
    const recs = await readRecommendations(page.locator('[data-testid="detail"]'));
    assert.ok(recs.length >= 1 && recs.length <= 8, `1..8 recommendations, got ${recs.length}`);
    recs.forEach(assertScore);
    assert.ok(recs.every((r) => r.slug !== slug), 'the product is not its own recommendation');

    // The detail URL can be reloaded (and so linked).
    await page.reload();
    await settled(page, 'detail');
    assert.equal((await page.locator('[data-testid="detail-title"]').textContent()).trim(), title);

    // A recommendation of the detail view opens that product's detail view.
    const next = page.locator('[data-testid="detail"] [data-testid="recommendation"]').first();
    const nextSlug = await next.getAttribute('data-slug');
    await next.click();
    await page.waitForFunction((s) => new URLSearchParams(location.search).get('product') === s, nextSlug);
    await settled(page, 'detail');
    assert.equal(await page.locator('[data-testid="detail"]').getAttribute('data-slug'), nextSlug);

    // The browser's back button goes to the previous product.
    await page.goBack();
    await page.waitForFunction((s) => new URLSearchParams(location.search).get('product') === s, slug);
    await settled(page, 'detail');
    assert.equal((await page.locator('[data-testid="detail-title"]').textContent()).trim(), title);

    // The page's back link returns to the featured products.
    await page.locator('[data-testid="back"]').click();
    await settled(page, 'home');
    assert.equal(new URL(page.url()).searchParams.get('product'), null);
    assert.equal(await page.locator('[data-testid="product-card"]').count(), cardCount);
    assert.equal(await page.locator('[data-testid="product-card"][data-state="ready"]').count(), cardCount);

    assertNoProblems(problems);
  } finally {
    await context.close();
  }
});

test('an unknown product shows the 404 message, not a crash', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    await page.goto(DEMO + '?product=no-such-product');
    await settled(page, 'detail');
    assert.equal(await page.locator('#app').getAttribute('data-state'), 'error');
    const error = page.locator('[data-testid="error"]');
    assert.equal(await error.count(), 1);
    assert.ok(await error.isVisible(), 'the error is visible');
    assert.equal(await error.getAttribute('data-status'), '404');
    const text = await error.textContent();
    assert.match(text, /not found/i);
    assert.match(text, /no-such-product/);
    assert.equal(await page.locator('[data-testid="recommendation"]').count(), 0);

    // The way back still works.
    await page.locator('[data-testid="back"]').click();
    await settled(page, 'home');
    assert.ok(await page.locator('[data-testid="recommendation"]').count() > 0);

    assertNoProblems(problems, [404]);
  } finally {
    await context.close();
  }
});

test('an unknown featured product fails only its own card', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    await page.goto(DEMO + '?slugs=aeroglide-running-shoes,no-such-product');
    await settled(page, 'home');
    const good = page.locator('[data-testid="product-card"][data-slug="aeroglide-running-shoes"]');
    const bad = page.locator('[data-testid="product-card"][data-slug="no-such-product"]');
    assert.equal(await good.getAttribute('data-state'), 'ready');
    assert.equal(await bad.getAttribute('data-state'), 'error');
    assert.match(await bad.locator('[data-testid="error"]').textContent(), /not found/i);
    assertNoProblems(problems, [404]);
  } finally {
    await context.close();
  }
});

test('a 503 from the API is shown with a retry button', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    // The database cannot be stopped under the shared server here, so the
    // browser answers this one request itself, as recs does on a dead pool.
    let calls = 0;
    await page.route('**/products/*/recommendations*', (route) => {
      calls++;
      if (calls === 1) {
        return route.fulfill({
          status: 503,
          headers: { 'Retry-After': '1' },
          contentType: 'application/json',
          body: '{"error":"database unavailable"}',
        });
      }
      return route.continue();
    });
    await page.goto(DEMO + '?product=lavender-soy-candle');
    await settled(page, 'detail');
    const error = page.locator('[data-testid="error"]');
    assert.equal(await error.getAttribute('data-status'), '503');
    assert.match(await error.textContent(), /unavailable/i);
    await page.locator('[data-testid="retry"]').click();
    await settled(page, 'detail');
    assert.equal(await page.locator('#app').getAttribute('data-state'), 'ready');
    assert.ok(await page.locator('[data-testid="recommendation"]').count() > 0);
    assertNoProblems(problems, [503]);
  } finally {
    await context.close();
  }
});

test('text from the API is shown as text, never as HTML', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    const evil = '<img src=x onerror="window.__pwned=1">';
    await page.route('**/products/*/recommendations*', (route) => route.fulfill({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({
        product: { id: 1, slug: 'x', title: evil },
        recommendations: [{ id: 2, slug: 'y"><b>', title: evil, price_cents: 100, category: '<i>c</i>', score: 0.5, matches: 750 }],
      }),
    }));
    await page.goto(DEMO + '?product=x');
    await settled(page, 'detail');
    assert.equal((await page.locator('[data-testid="detail-title"]').textContent()).trim(), evil);
    assert.equal(await page.locator('[data-testid="rec-title"]').textContent(), evil);
    assert.equal(await page.locator('#app img, #app b, #app i').count(), 0, 'no element made from data');
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assertNoProblems(problems);
  } finally {
    await context.close();
  }
});

test('screenshot of the home page', { timeout: TIMEOUT, skip: SCREENSHOT ? false : 'RECS_DEMO_SCREENSHOT is not set' }, async () => {
  const { context, page, problems } = await openPage();
  try {
    await page.goto(DEMO);
    await settled(page, 'home');
    const path = resolve(SCREENSHOT);
    mkdirSync(dirname(path), { recursive: true });
    await page.screenshot({ path, fullPage: true });
    assertNoProblems(problems);
  } finally {
    await context.close();
  }
});
