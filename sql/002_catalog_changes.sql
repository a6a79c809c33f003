-- 002_catalog_changes.sql: row-level change capture for the catalog.
--
-- recs keeps the catalog and its signatures in memory. To stay exact it asks,
-- before answering, "which products changed since my snapshot?", and applies
-- only those rows. Triggers log the id of every product a statement touches,
-- stamped with the writing transaction's id (pg_current_xact_id, an xid8).
-- recs remembers the PostgreSQL snapshot its copy was read under and asks
-- for the log rows that snapshot could not see: committed since, or still in
-- flight then and committed since. Transaction ids do not follow commit
-- order, so a "greater than the last number seen" cursor would skip a
-- transaction that started early and committed late; the snapshot test does
-- not. Writers are never serialized: the triggers only append rows.
--
-- Without these tables recs still answers correctly: it then reads the
-- catalog on every request.

-- The catalog's identity: a random epoch per installation, so that a
-- catalog database that is recreated or restored is never mistaken for the
-- one recs has in memory; and the log's floor: log rows with a smaller xid
-- may have been trimmed, so a copy older than the floor reads everything.
CREATE TABLE IF NOT EXISTS recs_catalog_version (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch     bigint  NOT NULL DEFAULT (floor(random() * 9.2e18))::bigint
);
ALTER TABLE recs_catalog_version ADD COLUMN IF NOT EXISTS floor xid8 NOT NULL DEFAULT '0';
ALTER TABLE recs_catalog_version DROP COLUMN IF EXISTS version;
INSERT INTO recs_catalog_version (singleton) VALUES (true) ON CONFLICT (singleton) DO NOTHING;

-- One row per product touched by a statement (its old and its new id when an
-- UPDATE changes the id), per category touched (recs then reads that
-- category's products again), or a reset after TRUNCATE (recs reads all).
CREATE TABLE IF NOT EXISTS recs_catalog_changes (
  xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  product_id  bigint,
  category_id bigint,
  reset       boolean     NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS recs_catalog_changes_xid_idx ON recs_catalog_changes (xid);

-- Trims log rows older than keep and raises the floor past them. The
-- triggers call it now and then, so the log stays small without a cron job;
-- an operator may also call it.
CREATE OR REPLACE FUNCTION recs_trim_catalog_changes(keep interval DEFAULT '15 minutes')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  horizon xid8;
BEGIN
  SELECT max(xid) INTO horizon FROM recs_catalog_changes WHERE at < clock_timestamp() - keep;
  IF horizon IS NULL THEN
    RETURN;
  END IF;
  UPDATE recs_catalog_version SET floor = greatest(floor, horizon);
  DELETE FROM recs_catalog_changes WHERE xid <= horizon;
END;
$$;

-- SECURITY DEFINER so that whoever may write the catalog may log changes,
-- without a grant on the log. Statement-level with transition tables: a
-- COPY or a bulk UPDATE of many rows costs one INSERT ... SELECT.
CREATE OR REPLACE FUNCTION recs_log_product_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO recs_catalog_changes (reset) VALUES (true);
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO recs_catalog_changes (product_id) SELECT id FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO recs_catalog_changes (product_id) SELECT id FROM old_rows;
  ELSE
    INSERT INTO recs_catalog_changes (product_id)
      SELECT id FROM new_rows UNION SELECT id FROM old_rows;
  END IF;
  IF random() < 0.001 THEN
    PERFORM recs_trim_catalog_changes();
  END IF;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION recs_log_category_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO recs_catalog_changes (reset) VALUES (true);
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO recs_catalog_changes (category_id)
      SELECT id FROM new_rows UNION SELECT id FROM old_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO recs_catalog_changes (category_id) SELECT id FROM old_rows;
  END IF;
  -- A new category holds no product yet: products that join it log themselves.
  RETURN NULL;
END;
$$;

-- The statement-level version triggers of earlier releases serialized
-- writers on one row; the log replaces them.
DROP TRIGGER IF EXISTS recs_products_version ON products;
DROP TRIGGER IF EXISTS recs_categories_version ON categories;
DROP FUNCTION IF EXISTS recs_bump_catalog_version();

DROP TRIGGER IF EXISTS recs_products_insert ON products;
CREATE TRIGGER recs_products_insert AFTER INSERT ON products
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION recs_log_product_changes();
DROP TRIGGER IF EXISTS recs_products_update ON products;
CREATE TRIGGER recs_products_update AFTER UPDATE ON products
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION recs_log_product_changes();
DROP TRIGGER IF EXISTS recs_products_delete ON products;
CREATE TRIGGER recs_products_delete AFTER DELETE ON products
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION recs_log_product_changes();
DROP TRIGGER IF EXISTS recs_products_truncate ON products;
CREATE TRIGGER recs_products_truncate AFTER TRUNCATE ON products
  FOR EACH STATEMENT EXECUTE FUNCTION recs_log_product_changes();

DROP TRIGGER IF EXISTS recs_categories_update ON categories;
CREATE TRIGGER recs_categories_update AFTER UPDATE ON categories
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION recs_log_category_changes();
DROP TRIGGER IF EXISTS recs_categories_delete ON categories;
CREATE TRIGGER recs_categories_delete AFTER DELETE ON categories
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION recs_log_category_changes();
DROP TRIGGER IF EXISTS recs_categories_truncate ON categories;
CREATE TRIGGER recs_categories_truncate AFTER TRUNCATE ON categories
  FOR EACH STATEMENT EXECUTE FUNCTION recs_log_category_changes();

-- Logical replication applies changes with session_replication_role =
-- replica, where ordinary triggers stay silent: a replicated catalog must
-- log its changes too.
ALTER TABLE products ENABLE ALWAYS TRIGGER recs_products_insert;
ALTER TABLE products ENABLE ALWAYS TRIGGER recs_products_update;
ALTER TABLE products ENABLE ALWAYS TRIGGER recs_products_delete;
ALTER TABLE products ENABLE ALWAYS TRIGGER recs_products_truncate;
ALTER TABLE categories ENABLE ALWAYS TRIGGER recs_categories_update;
ALTER TABLE categories ENABLE ALWAYS TRIGGER recs_categories_delete;
ALTER TABLE categories ENABLE ALWAYS TRIGGER recs_categories_truncate;
