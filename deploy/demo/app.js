// recs storefront demo: featured products with their recommendations, and a
// detail view per product. Vanilla JS, no build step. Everything shown comes
// from GET /products/{slug}/recommendations (same origin); every piece of
// data goes into the page through textContent or attributes, never as HTML.
//
// URLs:  /demo/                     featured products (the list below)
//        /demo/?slugs=a,b,c         featured products a, b and c
//        /demo/?product=slug        one product with 8 recommendations
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
  const MAX_FEATURED = 24;

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

  const price = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
  const app = document.getElementById('app');
  let generation = 0; // bumps on every render; stale answers are dropped

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

  // A URL within the demo that keeps a custom ?slugs list while browsing.
  function demoUrl(product) {
    const params = new URLSearchParams();
    const slugs = currentParams().get('slugs');
    if (slugs !== null) params.set('slugs', slugs);
    if (product) params.set('product', product);
    const query = params.toString();
    return window.location.pathname + (query ? '?' + query : '');
  }

  // ------------------------------------------------------------ the API

  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  async function fetchRecommendations(slug, limit) {
    const url = '/products/' + encodeURIComponent(slug) + '/recommendations?limit=' + limit;
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
    if (!body || typeof body !== 'object' || !body.product || !Array.isArray(body.recommendations)) {
      throw new ApiError(response.status, 'the service sent an unexpected answer');
    }
    return body;
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

  function errorBox(err, slug, onRetry) {
    const info = describeError(err, slug);
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

  function recommendationItem(rec) {
    const score = Number(rec.score);
    const link = el('a', {
      class: 'rec',
      href: demoUrl(rec.slug),
      'data-nav': true,
      'data-testid': 'recommendation',
      'data-slug': rec.slug,
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

  function recommendationList(recs) {
    if (recs.length === 0) {
      return el('p', { class: 'empty', 'data-testid': 'empty' }, 'No similar products yet.');
    }
    return el('ol', { class: 'recs', 'data-testid': 'recommendations' }, ...recs.map(recommendationItem));
  }

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
          'Pick any of them to see its own recommendations.')),
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

  function cardHeader(title, slug) {
    return el('header', { class: 'card-head' },
      tile(title, undefined, 'md'),
      el('h2', { class: 'card-title' },
        el('a', { href: demoUrl(slug), 'data-nav': true, 'data-testid': 'product-title' }, title)));
  }

  async function loadCard(card, slug, gen) {
    card.dataset.state = 'loading';
    card.replaceChildren(cardHeader(slug, slug),
      el('p', { class: 'loading', 'data-testid': 'loading' }, 'Loading recommendations…'));
    try {
      const data = await fetchRecommendations(slug, HOME_LIMIT);
      if (gen !== generation) return;
      card.replaceChildren(
        cardHeader(data.product.title, data.product.slug),
        el('h3', { class: 'card-sub' }, 'Customers also viewed'),
        recommendationList(data.recommendations));
      card.dataset.state = 'ready';
    } catch (err) {
      if (gen !== generation) return;
      card.replaceChildren(cardHeader(slug, slug),
        errorBox(err, slug, () => loadCard(card, slug, generation)));
      card.dataset.state = 'error';
    }
  }

  async function renderDetail(slug, gen) {
    const back = el('a', { class: 'back', href: demoUrl(null), 'data-nav': true, 'data-testid': 'back' },
      '← Back to featured products');
    const body = el('section', { class: 'detail', 'data-testid': 'detail', 'data-slug': slug },
      el('h1', { 'data-testid': 'detail-title' }, slug),
      el('p', { class: 'loading', 'data-testid': 'loading' }, 'Loading recommendations…'));
    app.replaceChildren(el('nav', { class: 'crumbs' }, back), body);
    setState('detail', 'loading');
    document.title = slug + ' · recs storefront demo';

    try {
      const data = await fetchRecommendations(slug, DETAIL_LIMIT);
      if (gen !== generation) return;
      document.title = data.product.title + ' · recs storefront demo';
      body.replaceChildren(
        el('div', { class: 'detail-head' },
          tile(data.product.title, undefined, 'lg'),
          el('div', {},
            el('p', { class: 'eyebrow' }, 'Product #' + data.product.id),
            el('h1', { 'data-testid': 'detail-title' }, data.product.title),
            el('p', { class: 'lede' },
              `The ${DETAIL_LIMIT} most similar products in the catalog, best match first.`))),
        el('h2', { class: 'section-title' }, 'Similar products'),
        recommendationList(data.recommendations));
      setState('detail', 'ready');
    } catch (err) {
      if (gen !== generation) return;
      body.replaceChildren(el('h1', { 'data-testid': 'detail-title' }, slug),
        errorBox(err, slug, () => render()));
      setState('detail', 'error');
    }
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
}());
