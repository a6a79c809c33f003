-- 002_catalog_version.sql: a catalog version that moves with every change.
--
-- recs keeps the catalog and its signatures in memory and asks one tiny
-- question per request: "is this still version N?". Statement-level triggers
-- bump the version in the same transaction as the change, so a reader never
-- sees new rows with an old version or an old version with new rows (a
-- sequence would not do: nextval is not transactional).
--
-- Without this table recs still answers correctly: it then reads the
-- candidates from the tables on every request.
CREATE TABLE IF NOT EXISTS recs_catalog_version (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version   bigint  NOT NULL DEFAULT 1
);
-- A random epoch per table: a catalog database that is recreated or
-- restored starts counting again, and recs must not mistake its version 1
-- for the version 1 of the catalog it has in memory. recs reads
-- version XOR epoch (as a non-negative number) and only ever compares it
-- for equality.
ALTER TABLE recs_catalog_version ADD COLUMN IF NOT EXISTS
  epoch bigint NOT NULL DEFAULT (floor(random() * 9.2e18))::bigint;
INSERT INTO recs_catalog_version (singleton, version) VALUES (true, 1)
  ON CONFLICT (singleton) DO NOTHING;

-- SECURITY DEFINER so that whoever may write the catalog may bump the
-- version, without needing a grant on recs_catalog_version.
CREATE OR REPLACE FUNCTION recs_bump_catalog_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE recs_catalog_version SET version = version + 1;
  RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS recs_products_version ON products;
CREATE TRIGGER recs_products_version
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON products
  FOR EACH STATEMENT EXECUTE FUNCTION recs_bump_catalog_version();

DROP TRIGGER IF EXISTS recs_categories_version ON categories;
CREATE TRIGGER recs_categories_version
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON categories
  FOR EACH STATEMENT EXECUTE FUNCTION recs_bump_catalog_version();
