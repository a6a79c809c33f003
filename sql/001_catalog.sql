-- 001_catalog.sql: the catalog tables of docs/API.md, owned by the catalog's owner.
-- recs only reads them. The UNIQUE constraint on slug is the index that
-- finds a product by its slug.
CREATE TABLE IF NOT EXISTS categories (
  id    bigserial PRIMARY KEY,
  slug  text NOT NULL UNIQUE,
  name  text NOT NULL
);

CREATE TABLE IF NOT EXISTS products (
  id          bigserial PRIMARY KEY,
  slug        text NOT NULL UNIQUE,
  title       text NOT NULL,
  description text NOT NULL DEFAULT '',
  price_cents integer NOT NULL CHECK (price_cents >= 0),
  category_id bigint REFERENCES categories(id)
);

CREATE INDEX IF NOT EXISTS products_category_id_idx ON products (category_id);
