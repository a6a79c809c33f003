// End-to-end test of the storefront demo page (deploy/demo) in headless
// Chromium, against a running recs with RECS_DEMO_DIR set and the demo catalog
// loaded. tests/e2e/run.sh sets all of that up; to run it by hand:
//
//   RECS_DEMO_URL=http://127.0.0.1:8080 node --test tests/e2e/demo.test.mjs
//
// RECS_DEMO_URL   the service's base URL (the page is at /demo/ below it)
// RECS_DEMO_SCREENSHOT  if set, a PNG of a product's filtered recommendations
//                 with a cart (the README's docs/demo.png) is written there
// RECS_CHROMIUM   the browser (default /usr/bin/chromium, Debian's package)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

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
      categorySlug: a.dataset.category,
      cents: a.dataset.priceCents === undefined ? null : Number(a.dataset.priceCents),
    };
  }));
}

// "$1,234.56" to 123456.
function centsOf(text) {
  const m = /^\$(\d{1,3}(?:,\d{3})*)\.(\d{2})$/.exec(text);
  assert.ok(m, `"${text}" is a price in dollars`);
  return Number(m[1].replace(/,/g, '')) * 100 + Number(m[2]);
}

// The API's own answer for a URL the page asked for.
async function apiAnswer(url) {
  const response = await fetch(new URL(url, BASE));
  return { status: response.status, body: await response.json() };
}

// Waits until the cart shows the recommendations of exactly these products.
async function cartReady(page, slugs) {
  await page.waitForSelector(`[data-testid="cart"][data-state="ready"][data-for="${slugs.join(',')}"]`, { state: 'attached' });
}

function cartItems(page) {
  return page.locator('[data-testid="cart-item"]').evaluateAll((items) => items.map((li) => ({
    slug: li.dataset.slug,
    title: li.querySelector('[data-testid="cart-item-title"]').textContent,
  })));
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

test('the cart: add two products, get its recommendations from the cart endpoint, remove one', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    const cartRequests = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/recommendations') cartRequests.push(url);
    });
    const shoes = 'aeroglide-running-shoes';
    const candle = 'lavender-soy-candle';
    await page.goto(DEMO);
    await settled(page, 'home');
    const cart = page.locator('[data-testid="cart"]');
    assert.equal(await cart.getAttribute('data-state'), 'empty');
    assert.ok(await cart.locator('[data-testid="cart-empty"]').isVisible(), 'an empty cart says so');
    assert.equal(await page.locator('[data-testid="cart-count"]').textContent(), '0');

    // "Add to cart" on two product cards.
    const addShoes = page.locator(`[data-testid="product-card"][data-slug="${shoes}"] [data-testid="add-to-cart"]`);
    const addCandle = page.locator(`[data-testid="product-card"][data-slug="${candle}"] [data-testid="add-to-cart"]`);
    assert.equal(await addShoes.textContent(), 'Add to cart');
    assert.equal(await addShoes.getAttribute('aria-label'), 'Add to cart: AeroGlide Running Shoes');
    await addShoes.click();
    await cartReady(page, [shoes]);
    await addCandle.click();
    await cartReady(page, [shoes, candle]);

    assert.deepEqual(await cartItems(page), [
      { slug: shoes, title: 'AeroGlide Running Shoes' },
      { slug: candle, title: 'Lavender Soy Candle' },
    ]);
    assert.equal(await page.locator('[data-testid="cart-count"]').textContent(), '2');
    assert.equal(await cart.locator('[data-testid="cart-size"]').textContent(), '2');
    assert.equal(await addShoes.textContent(), 'Remove from cart');
    assert.match(await page.locator('[data-testid="cart-status"]').textContent(), /Added Lavender Soy Candle to the cart/);

    // The cart's recommendations come from GET /recommendations?products=...
    const request = cartRequests.at(-1);
    assert.ok(request, 'the page asked the cart endpoint');
    assert.match(request.search, /^\?products=aeroglide-running-shoes,lavender-soy-candle(&|$)/);
    assert.deepEqual(request.searchParams.get('products').split(','), [shoes, candle]);
    const recs = await readRecommendations(cart);
    assert.ok(recs.length >= 1 && recs.length <= 5, `1..5 cart recommendations, got ${recs.length}`);
    for (const rec of recs) {
      assertScore(rec);
      assert.ok(![shoes, candle].includes(rec.slug), `${rec.slug} is in the cart, it is no recommendation for it`);
      assert.equal(centsOf(rec.price), rec.cents, `the price shown for ${rec.slug}`);
    }
    const answer = await apiAnswer(request.pathname + request.search);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.products.map((p) => p.slug), [shoes, candle]);
    assert.deepEqual(answer.body.missing, []);
    assert.deepEqual(recs.map((r) => r.slug), answer.body.recommendations.map((r) => r.slug), 'the API\'s ranking, in order');
    assert.deepEqual(recs.map((r) => r.raw), answer.body.recommendations.map((r) => String(r.score)));
    // Recommendations for the cart as a whole: neighbours of both products.
    const slugs = recs.map((r) => r.slug);
    assert.ok(slugs.includes('womens-aeroglide-running-shoes') && slugs.includes('cedar-and-sage-soy-candle'),
      `the shoes' and the candle's best matches are both there: ${slugs}`);

    // The cart survives a reload of the page (sessionStorage).
    await page.reload();
    await settled(page, 'home');
    await cartReady(page, [shoes, candle]);
    assert.deepEqual((await cartItems(page)).map((i) => i.slug), [shoes, candle]);

    // Remove the shoes from the cart.
    const asked = cartRequests.length;
    await cart.locator(`[data-testid="cart-item"][data-slug="${shoes}"] [data-testid="remove-from-cart"]`).click();
    await cartReady(page, [candle]);
    assert.deepEqual((await cartItems(page)).map((i) => i.slug), [candle]);
    assert.equal(await page.locator('[data-testid="cart-count"]').textContent(), '1');
    assert.equal(await addShoes.textContent(), 'Add to cart', 'the card can add it again');
    assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'cart-heading',
      'the keyboard stays in the cart');
    assert.ok(cartRequests.length > asked, 'the cart asked again');
    const after = cartRequests.at(-1);
    assert.equal(after.searchParams.get('products'), candle);
    const left = await readRecommendations(cart);
    assert.ok(left.length >= 1);
    assert.ok(left.every((r) => r.slug !== candle));
    const leftAnswer = await apiAnswer(after.pathname + after.search);
    assert.deepEqual(left.map((r) => r.slug), leftAnswer.body.recommendations.map((r) => r.slug));
    assert.ok(!left.some((r) => r.slug === 'womens-aeroglide-running-shoes'), 'the shoes\' neighbour went with them');

    // A cart recommendation opens its detail view, which adds it to the cart.
    const pick = left[0].slug;
    await cart.locator(`[data-testid="recommendation"][data-slug="${pick}"]`).click();
    await settled(page, 'detail');
    assert.equal(await page.locator('[data-testid="detail"]').getAttribute('data-slug'), pick);
    await page.locator('[data-testid="detail"] [data-testid="add-to-cart"]').click();
    await cartReady(page, [candle, pick]);
    assert.deepEqual((await cartItems(page)).map((i) => i.slug), [candle, pick]);
    assert.ok((await readRecommendations(cart)).every((r) => r.slug !== candle && r.slug !== pick));

    assertNoProblems(problems);
  } finally {
    await context.close();
  }
});

test('category and price filters on a product\'s recommendations; an invalid range shows the API\'s message', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    const product = 'aeroglide-running-shoes';
    const path = `/products/${product}/recommendations`;
    const isDetailRequest = (test) => (response) => {
      const url = new URL(response.url());
      return url.pathname === path && test(url, response);
    };
    await page.goto(DEMO + '?product=' + product);
    await settled(page, 'detail');
    const detail = page.locator('[data-testid="detail"]');
    const unfiltered = await readRecommendations(detail);
    assert.equal(unfiltered.length, 8);

    // The form: labelled inputs, one checkbox per category of the catalog.
    const offered = await detail.locator('input[name="category"]').evaluateAll((boxes) => boxes.map((b) => b.value));
    for (const slug of ['books', 'clothing', 'coffee-tea', 'electronics', 'home', 'kitchen', 'outdoor', 'shoes']) {
      assert.ok(offered.includes(slug), `the category filter offers ${slug}: ${offered}`);
    }
    const min = page.getByLabel('Min', { exact: true });
    const max = page.getByLabel('Max', { exact: true });
    assert.equal(await min.getAttribute('type'), 'number');
    assert.equal(await max.getAttribute('type'), 'number');

    // Shoes or clothing, $40 to $120: some of the unfiltered answer fails that.
    const categories = ['clothing', 'shoes'];
    const low = 4000;
    const high = 12000;
    const passes = (r) => categories.includes(r.categorySlug) && r.cents >= low && r.cents <= high;
    assert.ok(unfiltered.some((r) => !passes(r)), 'the filters have something to remove');

    await page.getByRole('checkbox', { name: 'Shoes', exact: true }).check();
    await page.getByRole('checkbox', { name: 'Clothing', exact: true }).check();
    await min.fill('40');
    await max.fill('120');
    const [filtered] = await Promise.all([
      page.waitForResponse(isDetailRequest((url) => url.searchParams.has('category'))),
      page.getByRole('button', { name: 'Apply filters' }).click(),
    ]);
    await settled(page, 'detail');
    assert.equal(await page.locator('#app').getAttribute('data-state'), 'ready');
    const asked = new URL(filtered.url());
    assert.deepEqual(asked.searchParams.get('category').split(',').sort(), categories);
    assert.equal(asked.searchParams.get('min_price'), String(low), 'dollars are sent as cents');
    assert.equal(asked.searchParams.get('max_price'), String(high));
    assert.equal(new URL(page.url()).searchParams.get('min_price'), String(low), 'the filters are in the URL');

    const recs = await readRecommendations(detail);
    assert.ok(recs.length >= 1, 'something passes the filters');
    for (const rec of recs) {
      assertScore(rec);
      assert.ok(categories.includes(rec.categorySlug), `${rec.slug} is in ${rec.categorySlug}`);
      assert.ok(['Shoes', 'Clothing'].includes(rec.category), `${rec.slug} shows the category "${rec.category}"`);
      const cents = centsOf(rec.price);
      assert.equal(cents, rec.cents);
      assert.ok(cents >= low && cents <= high, `${rec.slug} costs ${rec.price}, within $40.00..$120.00`);
    }
    const answer = await apiAnswer(asked.pathname + asked.search);
    assert.deepEqual(recs.map((r) => r.slug), answer.body.recommendations.map((r) => r.slug), 'the API\'s filtered ranking');
    assert.match(await detail.locator('[data-testid="filter-summary"]').textContent(), /Clothing or Shoes, \$40\.00 to \$120\.00/);

    // A reload keeps the filters in the form and in the answer.
    await page.reload();
    await settled(page, 'detail');
    assert.equal(await min.inputValue(), '40');
    assert.equal(await max.inputValue(), '120');
    assert.ok(await page.getByRole('checkbox', { name: 'Shoes', exact: true }).isChecked());
    assert.ok(await page.getByRole('checkbox', { name: 'Clothing', exact: true }).isChecked());
    assert.ok(!await page.getByRole('checkbox', { name: 'Books', exact: true }).isChecked());
    assert.deepEqual((await readRecommendations(detail)).map((r) => r.slug), recs.map((r) => r.slug));

    // min > max: the API refuses it, and the page shows its message.
    await min.fill('150');
    await max.fill('20');
    const [refused] = await Promise.all([
      page.waitForResponse(isDetailRequest((url, response) => response.status() === 400)),
      page.getByRole('button', { name: 'Apply filters' }).click(),
    ]);
    await settled(page, 'detail');
    assert.equal(await page.locator('#app').getAttribute('data-state'), 'error');
    const refusal = await refused.json();
    assert.equal(refusal.error, 'invalid min_price: greater than max_price');
    const error = detail.locator('[data-testid="error"]');
    assert.equal(await error.count(), 1);
    assert.ok(await error.isVisible(), 'the error is visible');
    assert.equal(await error.getAttribute('data-status'), '400');
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.equal(await error.locator('[data-testid="error-message"]').textContent(), refusal.error);
    assert.equal(await detail.locator('[data-testid="recommendation"]').count(), 0, 'no stale recommendations');
    assert.equal((await page.locator('[data-testid="detail-title"]').textContent()).trim(), 'AeroGlide Running Shoes');
    assert.equal(await min.getAttribute('aria-invalid'), 'true');
    assert.equal(await max.getAttribute('aria-invalid'), 'true');

    // An amount that is no dollars and cents is refused before any request.
    let requests = 0;
    page.on('request', (r) => { if (new URL(r.url()).pathname === path) requests++; });
    await min.fill('1.999');
    await max.fill('');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    assert.match(await detail.locator('[data-testid="error-message"]').textContent(), /min price: enter an amount in dollars/);
    assert.equal(requests, 0);

    // Clear: no filters, the unfiltered answer again.
    await Promise.all([
      page.waitForResponse(isDetailRequest((url) => !url.searchParams.has('category') && !url.searchParams.has('min_price'))),
      page.getByRole('button', { name: 'Clear' }).click(),
    ]);
    await settled(page, 'detail');
    assert.equal(await page.locator('#app').getAttribute('data-state'), 'ready');
    assert.deepEqual((await readRecommendations(detail)).map((r) => r.slug), unfiltered.map((r) => r.slug));
    assert.equal(new URL(page.url()).searchParams.get('category'), null);
    assert.equal(await min.getAttribute('aria-invalid'), null);

    // The browser's back button returns to the refused range, then to the
    // filters before it.
    await page.goBack();
    await page.waitForSelector('#app[data-view="detail"][data-state="error"]', { state: 'attached' });
    assert.equal(new URL(page.url()).searchParams.get('min_price'), '15000');
    assert.equal(await min.inputValue(), '150');
    await page.goBack();
    await page.waitForSelector('#app[data-view="detail"][data-state="ready"]', { state: 'attached' });
    assert.equal(await min.inputValue(), '40');
    assert.deepEqual((await readRecommendations(detail)).map((r) => r.slug), recs.map((r) => r.slug));

    assertNoProblems(problems, [400]);
  } finally {
    await context.close();
  }
});

test('a link with an invalid filter shows the API\'s message under the product', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    await page.goto(DEMO + '?product=lavender-soy-candle&category=home&max_price=12.50');
    await settled(page, 'detail');
    assert.equal(await page.locator('#app').getAttribute('data-state'), 'error');
    assert.equal((await page.locator('[data-testid="detail-title"]').textContent()).trim(), 'Lavender Soy Candle');
    assert.equal(await page.locator('[data-testid="error"]').getAttribute('data-status'), '400');
    assert.equal(await page.locator('[data-testid="error-message"]').textContent(),
      'invalid max_price: expected one integer from 0 to 2147483647');
    assert.ok(await page.getByRole('checkbox', { name: 'Home & Living', exact: true }).isChecked());
    assert.equal(await page.getByLabel('Max', { exact: true }).getAttribute('aria-invalid'), 'true');
    assertNoProblems(problems, [400]);
  } finally {
    await context.close();
  }
});

// axe-core's WCAG 2 A and AA rules on the page as it is now.
async function assertAccessible(page, where) {
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  assert.deepEqual(violations, [], `accessibility violations on ${where}`);
}

test('the cart, the filters and their errors pass axe-core\'s WCAG 2 AA rules', { timeout: TIMEOUT }, async () => {
  const { context, page, problems } = await openPage();
  try {
    await page.goto(DEMO);
    await settled(page, 'home');
    await page.locator('[data-testid="product-card"][data-slug="lavender-soy-candle"] [data-testid="add-to-cart"]').click();
    await page.locator('[data-testid="product-card"][data-slug="cast-iron-skillet-10-inch"] [data-testid="add-to-cart"]').click();
    await cartReady(page, ['lavender-soy-candle', 'cast-iron-skillet-10-inch']);
    await assertAccessible(page, 'the home page with a cart');

    await page.goto(DEMO + '?product=cast-iron-skillet-10-inch&category=kitchen,home&min_price=1000&max_price=6000');
    await settled(page, 'detail');
    await cartReady(page, ['lavender-soy-candle', 'cast-iron-skillet-10-inch']);
    assert.equal(await page.locator('#app').getAttribute('data-state'), 'ready');
    await assertAccessible(page, 'a filtered detail view');

    await page.goto(DEMO + '?product=cast-iron-skillet-10-inch&min_price=6000&max_price=1000');
    await page.waitForSelector('#app[data-view="detail"][data-state="error"]', { state: 'attached' });
    await assertAccessible(page, 'a refused filter');
    assertNoProblems(problems, [400]);
  } finally {
    await context.close();
  }
});

test('screenshot of a product with filters and a cart', { timeout: TIMEOUT, skip: SCREENSHOT ? false : 'RECS_DEMO_SCREENSHOT is not set' }, async () => {
  const { context, page, problems } = await openPage();
  try {
    await page.goto(DEMO);
    await settled(page, 'home');
    for (const slug of ['aeroglide-running-shoes', '2-person-backpacking-tent']) {
      await page.locator(`[data-testid="product-card"][data-slug="${slug}"] [data-testid="add-to-cart"]`).click();
    }
    await page.goto(DEMO + '?product=merino-wool-base-layer-top&category=clothing,outdoor&min_price=2000&max_price=15000');
    await settled(page, 'detail');
    await cartReady(page, ['aeroglide-running-shoes', '2-person-backpacking-tent']);
    assert.equal(await page.locator('#app').getAttribute('data-state'), 'ready');
    const path = resolve(SCREENSHOT);
    mkdirSync(dirname(path), { recursive: true });
    await page.screenshot({ path, fullPage: true });
    assertNoProblems(problems);
  } finally {
    await context.close();
  }
});
