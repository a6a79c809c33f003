// recs storefront demo: featured products with their recommendations, a
// detail view per product with category and price filters, and a cart with
// the recommendations for everything in it. Vanilla JS, no build step.
// Everything shown comes from the API (same origin):
//   GET /products/{slug}/recommendations   cards and the detail view
//   GET /recommendations?products=a,b,...  the cart
// Every piece of data goes into the page through textContent or attributes,
// never as HTML.
//
// URLs:  /demo/                     featured products (the list below)
//        /demo/?slugs=a,b,c         featured products a, b and c
//        /demo/?product=slug        one product with 8 recommendations
//        /demo/?product=slug&category=a,b&min_price=CENTS&max_price=CENTS
//                                   the same, filtered (the values go to the
//                                   API as they are; it validates them)
// The cart lives in the page's state and in sessionStorage (this tab only).
'use strict';

(function () {
  const FEATURED = [
    'aeroglide-running-shoes',
    'house-espresso-blend-coffee-beans',
    'cast-iron-skillet-10-inch',
    'wireless-noise-cancelling-headphones',
    '2-person-backpacking-tent',
    'merino-wool-base-layer-top',
    'lavender-soy-candle',
  ];
  const HOME_LIMIT = 4;
  const DETAIL_LIMIT = 8;
  const CART_LIMIT = 5;
  const CART_MAX = 20; // the most products GET /recommendations takes
  const MAX_FEATURED = 24;
  const CART_KEY = 'recs-demo-cart';

  // The demo catalog's categories (sql/100_demo_catalog.sql). The category
  // filter offers these and every other category seen in an answer.
  const CATEGORY_NAMES = {
    clothing: 'Clothing',
    shoes: 'Shoes',
    kitchen: 'Kitchen',
    'coffee-tea': 'Coffee & Tea',
    electronics: 'Electronics',
    outdoor: 'Outdoor & Camping',
    home: 'Home & Living',
    books: 'Books',
  };
  const SLUG = /^[A-Za-z0-9._-]{1,128}$/;

  const price = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
  const app = document.getElementById('app');
  const cartRoot = document.getElementById('cart');
  const cartStatus = document.getElementById('cart-status');
  const cartCount = document.querySelector('[data-testid="cart-count"]');
  const seenCategories = new Set();
  let generation = 0; // bumps on every render of the view; stale answers are dropped
  let cartGeneration = 0; // the same for the cart's recommendations

  // ------------------------------------------------------------ helpers

  // el('p', {class: 'x', 'data-testid': 'y'}, 'text', child, ...)
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function categoryName(slug) {
    if (!slug) return 'Uncategorized';
    if (Object.prototype.hasOwnProperty.call(CATEGORY_NAMES, slug)) return CATEGORY_NAMES[slug];
    const words = String(slug).split('-').filter(Boolean);
    return words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ') || 'Uncategorized';
  }

  function formatPrice(cents) {
    return Number.isFinite(cents) ? price.format(cents / 100) : '';
  }

  function formatScore(score) {
    const pct = Math.min(100, Math.max(0, Number(score) * 100));
    return pct.toFixed(1) + '%';
  }

  // Two letters for the product tile: the initials of the first two words.
  function initials(title) {
    const words = String(title || '?').match(/[\p{L}\p{N}]+/gu) || ['?'];
    return words.slice(0, 2).map((w) => w.charAt(0).toUpperCase()).join('');
  }

  function slugList(param) {
    const seen = new Set();
    const out = [];
    for (const raw of String(param).split(',')) {
      const slug = raw.trim();
      if (slug && !seen.has(slug) && out.length < MAX_FEATURED) {
        seen.add(slug);
        out.push(slug);
      }
    }
    return out;
  }

  function currentParams() {
    return new URLSearchParams(window.location.search);
  }

  // '?a=1&b=x,y' from [[name, value], ...]: values are percent-encoded, but
  // commas stay commas so that lists read as lists (the API takes both).
  function queryString(pairs) {
    const parts = pairs.filter(([, value]) => value !== null && value !== undefined)
      .map(([name, value]) => name + '=' + encodeURIComponent(String(value)).replace(/%2C/gi, ','));
    return parts.length ? '?' + parts.join('&') : '';
  }

  // A URL within the demo that keeps a custom ?slugs list while browsing.
  function demoUrl(product, filters) {
    return window.location.pathname + queryString([
      ['slugs', currentParams().get('slugs')],
      ['product', product || null],
      ...(product && filters ? filterPairs(filters) : []),
    ]);
  }

  // ------------------------------------------------------------ filters

  // The filters of a detail view: each a string for the API, or null.
  const FILTERS = ['category', 'min_price', 'max_price'];

  function filtersFromParams(params) {
    const filters = {};
    for (const name of FILTERS) {
      const value = params.get(name);
      filters[name] = value === null || value === '' ? null : value;
    }
    return filters;
  }

  function filterPairs(filters) {
    return FILTERS.map((name) => [name, filters[name]]);
  }

  function hasFilters(filters) {
    return FILTERS.some((name) => filters[name] !== null);
  }

  // Dollars as typed ("20", "19.9", "19.99", ".5") to the API's cents, as a
  // string. A sign is kept, so that the API's own message explains it; null
  // for text that is no amount of dollars at all.
  function dollarsToCents(text) {
    const m = /^(-?)(\d*)(?:\.(\d{0,2}))?$/.exec(text.trim());
    if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return null;
    const digits = (m[2] + (m[3] || '').padEnd(2, '0')).replace(/^0+(?=\d)/, '');
    return m[1] + digits;
  }

  // The API's cents to dollars for a price input; '' when they are not cents.
  function centsToDollars(cents) {
    const m = /^(-?)(\d+)$/.exec(cents || '');
    if (!m) return '';
    const digits = m[2].replace(/^0+(?=\d)/, '').padStart(3, '0');
    const whole = digits.slice(0, -2);
    const frac = digits.slice(-2);
    return m[1] + whole + (frac === '00' ? '' : '.' + frac);
  }

  // Category slugs the filter offers: the demo catalog's, those seen in
  // answers and those asked for, by name.
  function categoryOptions(extra) {
    const all = new Set([...Object.keys(CATEGORY_NAMES), ...seenCategories, ...extra]);
    return [...all].sort((a, b) => categoryName(a).localeCompare(categoryName(b)) || (a < b ? -1 : 1));
  }

  function learnCategories(recs) {
    for (const rec of recs) {
      if (typeof rec.category === 'string' && SLUG.test(rec.category)) seenCategories.add(rec.category);
    }
  }

  // ------------------------------------------------------------ the API

  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  async function getJson(url, valid) {
    let response;
    try {
      response = await fetch(url, { headers: { Accept: 'application/json' } });
    } catch (err) {
      throw new ApiError(0, 'the recommendation service cannot be reached');
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) {
      const message = body && typeof body.error === 'string' ? body.error : response.statusText;
      throw new ApiError(response.status, message || 'request failed', response.headers.get('Retry-After'));
    }
    if (!body || typeof body !== 'object' || !valid(body)) {
      throw new ApiError(response.status, 'the service sent an unexpected answer');
    }
    if (Array.isArray(body.recommendations)) learnCategories(body.recommendations);
    return body;
  }

  function recommendationsUrl(slug, pairs) {
    return '/products/' + encodeURIComponent(slug) + '/recommendations' + queryString(pairs);
  }

  function cartUrl(slugs) {
    return '/recommendations' + queryString([['products', slugs.join(',')], ['limit', CART_LIMIT]]);
  }

  function fetchRecommendations(url) {
    return getJson(url, (body) => body.product && Array.isArray(body.recommendations));
  }

  function fetchCartRecommendations(url) {
    return getJson(url, (body) => Array.isArray(body.products) && Array.isArray(body.missing) &&
      Array.isArray(body.recommendations));
  }

  function describeError(err, slug) {
    const status = err && err.status;
    if (status === 404) return { title: 'Product not found', text: `There is no product “${slug}” in the catalog.` };
    if (status === 400) return { title: 'Invalid request', text: `The service refused “${slug}”: ${err.message}` };
    if (status === 503) {
      const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : ' Try again shortly.';
      return { title: 'Service unavailable', text: `Recommendations are unavailable right now (${err.message}).${wait}` };
    }
    if (status === 504) return { title: 'Timed out', text: `The catalog took too long to answer (${err.message}).` };
    if (status === 0) return { title: 'Offline', text: 'The recommendation service cannot be reached.' };
    return { title: 'Something went wrong', text: (err && err.message) || 'unknown error' };
  }

  // ------------------------------------------------------------ pieces

  function errorBox(err, info, onRetry) {
    const box = el('div', {
      class: 'error',
      role: 'alert',
      'data-testid': 'error',
      'data-status': err && Number.isInteger(err.status) ? err.status : undefined,
    },
    el('strong', { class: 'error-title' }, info.title + (err && err.status ? ` (${err.status})` : '')),
    el('span', { class: 'error-text', 'data-testid': 'error-message' }, info.text));
    if (onRetry && (!err || err.status === 0 || err.status >= 500)) {
      const retry = el('button', { type: 'button', class: 'retry', 'data-testid': 'retry' }, 'Retry');
      retry.addEventListener('click', onRetry);
      box.append(retry);
    }
    return box;
  }

  // A product's tile: coloured by its category (recommendations carry one;
  // the product asked about does not, so its tile has the accent colour).
  function tile(title, category, size) {
    const colour = category === undefined ? 'tile-product'
      : 'cat-' + (category ? String(category).replace(/[^a-z0-9-]/g, '') : 'none');
    return el('span', {
      class: `tile tile-${size} ${colour}`,
      'aria-hidden': 'true',
    }, initials(title));
  }

  // The request behind a list, shown under it.
  function requestLine(url) {
    return el('p', { class: 'request', 'data-testid': 'request' }, el('code', {}, 'GET ' + url));
  }

  function recommendationItem(rec) {
    const score = Number(rec.score);
    const link = el('a', {
      class: 'rec',
      href: demoUrl(rec.slug),
      'data-nav': true,
      'data-testid': 'recommendation',
      'data-slug': rec.slug,
      'data-category': rec.category || '',
      'data-price-cents': Number.isFinite(rec.price_cents) ? rec.price_cents : undefined,
    },
    tile(rec.title, rec.category, 'sm'),
    el('span', { class: 'rec-body' },
      el('span', { class: 'rec-title', 'data-testid': 'rec-title' }, rec.title),
      el('span', { class: 'rec-meta' },
        el('span', { class: 'category', 'data-testid': 'category' }, categoryName(rec.category)),
        el('span', { class: 'price', 'data-testid': 'price' }, formatPrice(rec.price_cents)))),
    el('span', { class: 'rec-score' },
      el('span', {
        class: 'score',
        'data-testid': 'score',
        'data-score': String(rec.score),
        title: `score ${rec.score} (${rec.matches} matching MinHash positions)`,
      }, formatScore(score)),
      el('span', { class: 'meter', 'aria-hidden': 'true' },
        el('span', { class: 'meter-fill', style: `width: ${formatScore(score)}` }))));
    return el('li', {}, link);
  }

  function recommendationList(recs, emptyText) {
    if (recs.length === 0) {
      return el('p', { class: 'empty', 'data-testid': 'empty' }, emptyText || 'No similar products yet.');
    }
    return el('ol', { class: 'recs', 'data-testid': 'recommendations' }, ...recs.map(recommendationItem));
  }

  // ------------------------------------------------------------ the cart

  // [{slug, title}, ...] in the order added.
  let cart = loadCart();

  function loadCart() {
    try {
      const stored = JSON.parse(window.sessionStorage.getItem(CART_KEY) || '[]');
      if (!Array.isArray(stored)) return [];
      const seen = new Set();
      return stored.filter((item) => item && typeof item.slug === 'string' && SLUG.test(item.slug) &&
          typeof item.title === 'string' && !seen.has(item.slug) && seen.add(item.slug))
        .slice(0, CART_MAX).map((item) => ({ slug: item.slug, title: item.title }));
    } catch (err) {
      return []; // no storage (private mode, disabled): the cart lives in the page only
    }
  }

  function saveCart() {
    try {
      window.sessionStorage.setItem(CART_KEY, JSON.stringify(cart));
    } catch (err) {
      // the cart still works for this page
    }
  }

  function inCart(slug) {
    return cart.some((item) => item.slug === slug);
  }

  function addToCart(product) {
    if (inCart(product.slug) || cart.length >= CART_MAX) return;
    cart.push({ slug: product.slug, title: product.title });
    cartChanged(`Added ${product.title} to the cart.`);
  }

  function removeFromCart(slug) {
    const item = cart.find((it) => it.slug === slug);
    if (!item) return;
    cart = cart.filter((it) => it.slug !== slug);
    cartChanged(`Removed ${item.title} from the cart.`);
  }

  function cartChanged(message) {
    saveCart();
    syncCartButtons();
    renderCart();
    cartStatus.textContent = message;
  }

  // "Add to cart" for a product; once it is in the cart, "Remove from cart".
  function cartButton(product) {
    const button = el('button', {
      type: 'button',
      class: 'cart-toggle',
      'data-testid': 'add-to-cart',
      'data-slug': product.slug,
    });
    button.dataset.title = product.title;
    button.addEventListener('click', () => {
      if (inCart(product.slug)) removeFromCart(product.slug);
      else addToCart(product);
    });
    syncCartButton(button);
    return button;
  }

  function syncCartButton(button) {
    const slug = button.dataset.slug;
    const title = button.dataset.title;
    const added = inCart(slug);
    const full = !added && cart.length >= CART_MAX;
    button.textContent = added ? 'Remove from cart' : 'Add to cart';
    button.setAttribute('aria-label', (added ? 'Remove from cart: ' : 'Add to cart: ') + title);
    button.classList.toggle('in-cart', added);
    button.disabled = full;
    if (full) button.title = `The cart holds at most ${CART_MAX} products.`;
    else button.removeAttribute('title');
  }

  function syncCartButtons() {
    for (const button of document.querySelectorAll('button[data-testid="add-to-cart"]')) syncCartButton(button);
    cartCount.textContent = String(cart.length);
  }

  function cartItem(item) {
    const remove = el('button', {
      type: 'button',
      class: 'remove',
      'data-testid': 'remove-from-cart',
      'aria-label': `Remove ${item.title} from the cart`,
    }, 'Remove');
    remove.addEventListener('click', () => {
      removeFromCart(item.slug);
      // The button is gone: keep the keyboard in the cart.
      const heading = document.getElementById('cart-heading');
      if (heading) heading.focus();
    });
    return el('li', { class: 'cart-item', 'data-testid': 'cart-item', 'data-slug': item.slug },
      tile(item.title, undefined, 'sm'),
      el('a', { class: 'cart-item-title', href: demoUrl(item.slug), 'data-nav': true, 'data-testid': 'cart-item-title' },
        item.title),
      remove);
  }

  function renderCart() {
    const gen = ++cartGeneration;
    const heading = el('h2', { id: 'cart-heading', class: 'cart-heading', tabindex: '-1' },
      'Your cart ', el('span', { class: 'cart-size', 'data-testid': 'cart-size' }, String(cart.length)));
    cartCount.textContent = String(cart.length);
    cartRoot.removeAttribute('data-for');

    if (cart.length === 0) {
      cartRoot.replaceChildren(heading,
        el('p', { class: 'empty', 'data-testid': 'cart-empty' },
          'Your cart is empty. Add products to it to see what goes with all of them.'));
      cartRoot.dataset.state = 'empty';
      return;
    }

    const slugs = cart.map((item) => item.slug);
    const url = cartUrl(slugs);
    const notes = el('div', { class: 'cart-notes' });
    const results = el('div', { class: 'cart-results', 'data-testid': 'cart-results' },
      el('p', { class: 'loading', 'data-testid': 'loading' }, 'Loading recommendations…'));
    const full = cart.length >= CART_MAX ? el('p', { class: 'note' }, `The cart holds at most ${CART_MAX} products.`) : '';
    cartRoot.replaceChildren(heading,
      el('ul', { class: 'cart-items', 'data-testid': 'cart-items' }, ...cart.map(cartItem)),
      full,
      notes,
      el('h3', { class: 'card-sub' }, 'Goes with your cart'),
      results,
      requestLine(url));
    cartRoot.dataset.state = 'loading';
    loadCartRecommendations(gen, slugs, url, results, notes);
  }

  async function loadCartRecommendations(gen, slugs, url, results, notes) {
    try {
      const data = await fetchCartRecommendations(url);
      if (gen !== cartGeneration) return;
      // Titles as the catalog has them now; products gone from the catalog
      // leave the cart (the answer already left them out).
      for (const product of data.products) {
        const item = cart.find((it) => it.slug === product.slug);
        if (item && typeof product.title === 'string') item.title = product.title;
      }
      const missing = data.missing.filter((slug) => typeof slug === 'string');
      if (missing.length) {
        cart = cart.filter((item) => !missing.includes(item.slug));
        notes.replaceChildren(el('p', { class: 'note', 'data-testid': 'cart-missing' },
          'No longer in the catalog, removed from the cart: ' + missing.join(', ')));
        const list = cartRoot.querySelector('[data-testid="cart-items"]');
        if (list) list.replaceChildren(...cart.map(cartItem));
        cartRoot.querySelector('[data-testid="cart-size"]').textContent = String(cart.length);
        syncCartButtons();
      }
      saveCart();
      results.replaceChildren(recommendationList(data.recommendations, 'Nothing else goes with this cart yet.'));
      cartRoot.dataset.for = slugs.join(',');
      cartRoot.dataset.state = 'ready';
    } catch (err) {
      if (gen !== cartGeneration) return;
      const info = err.status === 404
        ? { title: 'Not in the catalog', text: 'None of the products in the cart is in the catalog any more.' }
        : describeError(err, 'the cart');
      results.replaceChildren(errorBox(err, info, () => renderCart()));
      cartRoot.dataset.for = slugs.join(',');
      cartRoot.dataset.state = 'error';
    }
  }

  document.querySelector('[data-testid="cart-button"]').addEventListener('click', () => {
    const heading = document.getElementById('cart-heading');
    cartRoot.scrollIntoView({ block: 'start' });
    if (heading) heading.focus({ preventScroll: true });
  });

  // ------------------------------------------------------------ views

  function setState(view, state) {
    app.dataset.view = view;
    app.dataset.state = state;
  }

  function renderHome(gen) {
    const param = currentParams().get('slugs');
    const slugs = param === null ? FEATURED : slugList(param);
    document.title = 'recs storefront demo';

    const grid = el('div', { class: 'grid', 'data-testid': 'featured' });
    app.replaceChildren(
      el('section', { class: 'intro' },
        el('h1', {}, 'Featured products'),
        el('p', { class: 'lede' },
          'Each card asks the service for the four most similar products. ' +
          'Pick any of them to see its own recommendations, or add it to the cart.')),
      grid);
    setState('home', 'loading');

    if (slugs.length === 0) {
      grid.append(el('p', { class: 'empty', 'data-testid': 'empty' }, 'No products to feature: ?slugs= is empty.'));
      setState('home', 'ready');
      return;
    }

    const loads = slugs.map((slug) => {
      const card = el('article', { class: 'card', 'data-testid': 'product-card', 'data-slug': slug, 'data-state': 'loading' });
      grid.append(card);
      return loadCard(card, slug, gen);
    });
    Promise.allSettled(loads).then(() => {
      if (gen === generation) setState('home', 'ready');
    });
  }

  function cardHeader(title, slug, product) {
    return el('header', { class: 'card-head' },
      tile(title, undefined, 'md'),
      el('h2', { class: 'card-title' },
        el('a', { href: demoUrl(slug), 'data-nav': true, 'data-testid': 'product-title' }, title)),
      product ? cartButton(product) : null);
  }

  async function loadCard(card, slug, gen) {
    card.dataset.state = 'loading';
    card.replaceChildren(cardHeader(slug, slug),
      el('p', { class: 'loading', 'data-testid': 'loading' }, 'Loading recommendations…'));
    try {
      const data = await fetchRecommendations(recommendationsUrl(slug, [['limit', HOME_LIMIT]]));
      if (gen !== generation) return;
      card.replaceChildren(
        cardHeader(data.product.title, data.product.slug, data.product),
        el('h3', { class: 'card-sub' }, 'Customers also viewed'),
        recommendationList(data.recommendations));
      card.dataset.state = 'ready';
    } catch (err) {
      if (gen !== generation) return;
      card.replaceChildren(cardHeader(slug, slug),
        errorBox(err, describeError(err, slug), () => loadCard(card, slug, generation)));
      card.dataset.state = 'error';
    }
  }

  // The detail view: the product, the filter form and the recommendations.
  // Applying filters changes the URL and reloads the recommendations only.
  function renderDetail(slug, gen) {
    const back = el('a', { class: 'back', href: demoUrl(null), 'data-nav': true, 'data-testid': 'back' },
      '← Back to featured products');
    const body = el('section', { class: 'detail', 'data-testid': 'detail', 'data-slug': slug },
      el('h1', { 'data-testid': 'detail-title' }, slug),
      el('p', { class: 'loading', 'data-testid': 'loading' }, 'Loading recommendations…'));
    app.replaceChildren(el('nav', { class: 'crumbs' }, back), body);
    document.title = slug + ' · recs storefront demo';
    const view = { slug, body, product: null, form: null, results: null };
    loadDetail(view, filtersFromParams(currentParams()), gen);
  }

  async function loadDetail(view, filters, gen) {
    setState('detail', 'loading');
    if (view.results) {
      view.results.dataset.state = 'loading';
      view.results.replaceChildren(el('p', { class: 'loading', 'data-testid': 'loading' }, 'Loading recommendations…'));
    }
    const url = recommendationsUrl(view.slug, [['limit', DETAIL_LIMIT], ...filterPairs(filters)]);
    try {
      const data = await fetchRecommendations(url);
      if (gen !== generation) return;
      buildDetail(view, data.product, filters);
      showResults(view, data.recommendations, filters, url);
      setState('detail', 'ready');
    } catch (err) {
      if (gen !== generation) return;
      if (err.status !== 400 || !hasFilters(filters)) {
        detailFailed(view, err);
        return;
      }
      // A 400 with filters: the product may be fine and the filters not.
      // Without the product yet (a link with bad filters), ask for it alone.
      if (!view.product) {
        let data;
        try {
          data = await fetchRecommendations(recommendationsUrl(view.slug, [['limit', 1]]));
        } catch (err2) {
          if (gen === generation) detailFailed(view, err2);
          return;
        }
        if (gen !== generation) return;
        buildDetail(view, data.product, filters);
      }
      filterFailed(view, err.message, err, url);
    }
  }

  function detailFailed(view, err) {
    view.product = null;
    view.form = null;
    view.results = null;
    view.body.replaceChildren(el('h1', { 'data-testid': 'detail-title' }, view.slug),
      errorBox(err, describeError(err, view.slug), () => render()));
    setState('detail', 'error');
  }

  // The filters were refused (by the API, or as typed): the message goes
  // where the recommendations would be, next to the form.
  function filterFailed(view, message, err, url) {
    refreshCategoryOptions(view);
    const info = { title: 'Invalid filter', text: message };
    view.results.replaceChildren(errorBox(err || null, info), url ? requestLine(url) : '');
    view.results.dataset.state = 'error';
    // The inputs the message names ("invalid min_price: greater than
    // max_price" names both) are marked invalid.
    for (const name of ['min_price', 'max_price']) {
      const input = view.form.elements[name];
      if (message.includes(name) || message.includes(name.replace('_', ' '))) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    setState('detail', 'error');
  }

  // Builds the head and the form once per view, from the first answer.
  function buildDetail(view, product, filters) {
    if (view.product) {
      refreshCategoryOptions(view);
      return;
    }
    view.product = product;
    document.title = product.title + ' · recs storefront demo';
    view.form = filterForm(view, filters);
    view.results = el('div', { class: 'results', 'data-testid': 'results', 'data-state': 'loading' });
    view.body.replaceChildren(
      el('div', { class: 'detail-head' },
        tile(product.title, undefined, 'lg'),
        el('div', { class: 'detail-heading' },
          el('p', { class: 'eyebrow' }, 'Product #' + product.id),
          el('h1', { 'data-testid': 'detail-title' }, product.title),
          el('p', { class: 'lede' },
            `The ${DETAIL_LIMIT} most similar products in the catalog, best match first. ` +
            'The filters narrow them by category and price.')),
        cartButton(product)),
      view.form,
      el('h2', { class: 'section-title' }, 'Similar products'),
      view.results);
  }

  function showResults(view, recs, filters, url) {
    for (const name of ['min_price', 'max_price']) view.form.elements[name].removeAttribute('aria-invalid');
    refreshCategoryOptions(view);
    view.results.replaceChildren(
      hasFilters(filters) ? el('p', { class: 'filter-summary', 'data-testid': 'filter-summary' }, filterSummary(filters)) : '',
      recommendationList(recs, hasFilters(filters) ? 'No similar products pass these filters.' : undefined),
      requestLine(url));
    view.results.dataset.state = 'ready';
  }

  function filterSummary(filters) {
    const parts = [];
    if (filters.category) parts.push(filters.category.split(',').map(categoryName).join(' or '));
    const min = /^\d+$/.test(filters.min_price || '') ? formatPrice(Number(filters.min_price)) : null;
    const max = /^\d+$/.test(filters.max_price || '') ? formatPrice(Number(filters.max_price)) : null;
    if (min && max) parts.push(`${min} to ${max}`);
    else if (min) parts.push(`${min} or more`);
    else if (max) parts.push(`up to ${max}`);
    return 'Only ' + parts.join(', ') + '.';
  }

  function priceField(name, label, value) {
    const id = 'filter-' + name.replace('_', '-');
    return el('div', { class: 'price-field' },
      el('label', { for: id }, label),
      el('span', { class: 'money' },
        el('span', { class: 'currency', 'aria-hidden': 'true' }, '$'),
        el('input', {
          id,
          name,
          type: 'number',
          min: '0',
          step: '0.01',
          inputmode: 'decimal',
          placeholder: 'any',
          value: centsToDollars(value),
          'data-testid': id,
        })));
  }

  function filterForm(view, filters) {
    const selected = filters.category ? filters.category.split(',') : [];
    const boxes = el('div', { class: 'category-options', 'data-testid': 'category-options' },
      ...categoryOptions(selected.filter((s) => SLUG.test(s))).map((slug) => categoryBox(slug, selected.includes(slug))));
    // novalidate: the API checks the values, and the page shows its message.
    const form = el('form', { class: 'filters', 'data-testid': 'filters', novalidate: true, 'aria-labelledby': 'filters-title' },
      el('h2', { id: 'filters-title', class: 'filters-title' }, 'Filter the recommendations'),
      el('fieldset', { class: 'filter-group' },
        el('legend', {}, 'Category'),
        boxes),
      el('fieldset', { class: 'filter-group filter-price' },
        el('legend', {}, 'Price in dollars'),
        priceField('min_price', 'Min', filters.min_price),
        priceField('max_price', 'Max', filters.max_price)),
      el('div', { class: 'filter-actions' },
        el('button', { type: 'submit', class: 'primary', 'data-testid': 'apply-filters' }, 'Apply filters'),
        el('button', { type: 'reset', class: 'secondary', 'data-testid': 'clear-filters' }, 'Clear')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      applyFilters(view);
    });
    form.addEventListener('reset', (event) => {
      // Clear means no filters at all, not the values the view started with.
      event.preventDefault();
      for (const box of form.querySelectorAll('input[name="category"]')) box.checked = false;
      form.elements.min_price.value = '';
      form.elements.max_price.value = '';
      applyFilters(view);
    });
    return form;
  }

  function categoryBox(slug, checked) {
    return el('label', { class: 'check', 'data-category': slug },
      el('input', { type: 'checkbox', name: 'category', value: slug, checked }),
      el('span', {}, categoryName(slug)));
  }

  // Adds the categories seen since the form was built, in name order.
  function refreshCategoryOptions(view) {
    if (!view.form) return;
    const box = view.form.querySelector('[data-testid="category-options"]');
    const present = new Set([...box.querySelectorAll('input[name="category"]')].map((i) => i.value));
    const wanted = categoryOptions([]);
    if (wanted.every((slug) => present.has(slug))) return;
    const checked = new Set([...box.querySelectorAll('input[name="category"]:checked')].map((i) => i.value));
    const all = [...new Set([...wanted, ...present])].sort((a, b) => categoryName(a).localeCompare(categoryName(b)));
    for (const slug of all) {
      if (!present.has(slug)) {
        const next = all.slice(all.indexOf(slug) + 1).find((s) => present.has(s));
        const before = next ? box.querySelector(`label[data-category="${CSS.escape(next)}"]`) : null;
        box.insertBefore(categoryBox(slug, checked.has(slug)), before);
        present.add(slug);
      }
    }
  }

  // Reads the form, puts the filters in the URL and reloads the list.
  function applyFilters(view) {
    const form = view.form;
    const gen = ++generation;
    const categories = [...form.querySelectorAll('input[name="category"]:checked')].map((box) => box.value);
    const filters = { category: categories.length ? categories.join(',') : null, min_price: null, max_price: null };
    for (const [name, label] of [['min_price', 'min price'], ['max_price', 'max price']]) {
      const input = form.elements[name];
      if (input.value === '' && !input.validity.badInput) continue;
      const cents = input.validity.badInput ? null : dollarsToCents(input.value);
      if (cents === null) {
        filterFailed(view, `${label}: enter an amount in dollars, like 20 or 19.99`, null, null);
        return;
      }
      filters[name] = cents;
    }
    const url = demoUrl(view.slug, filters);
    if (url !== window.location.pathname + window.location.search) window.history.pushState(null, '', url);
    loadDetail(view, filters, gen);
  }

  function render() {
    const gen = ++generation;
    const product = currentParams().get('product');
    for (const link of document.querySelectorAll('a.brand')) link.setAttribute('href', demoUrl(null));
    if (product !== null && product.trim() !== '') renderDetail(product.trim(), gen);
    else renderHome(gen);
    window.scrollTo(0, 0);
  }

  // In-page navigation: plain clicks on our links change the URL and render
  // without a reload; modified clicks (new tab, ...) keep the browser's way.
  document.addEventListener('click', (event) => {
    const link = event.target instanceof Element ? event.target.closest('a[data-nav]') : null;
    if (!link || event.defaultPrevented || event.button !== 0 ||
        event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin) return;
    event.preventDefault();
    if (url.pathname + url.search !== window.location.pathname + window.location.search) {
      window.history.pushState(null, '', url.pathname + url.search);
    }
    render();
  });
  window.addEventListener('popstate', render);

  render();
  renderCart();
}());
