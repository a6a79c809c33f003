-- 003_reader_role.sql: the least-privilege role recs connects as.
--
-- recs only reads: SELECT on the catalog tables and the version table is
-- all it needs (it never writes, creates or locks anything). The role has
-- no password here; give it one, or use another authentication method, in
-- the cluster's own configuration:
--   ALTER ROLE recs_reader PASSWORD '...';
-- and connect with DATABASE_URL='postgresql://recs_reader:...@host/shop'.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recs_reader') THEN
    CREATE ROLE recs_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
  END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO recs_reader;
GRANT SELECT ON categories, products, recs_catalog_version, recs_catalog_changes TO recs_reader;
-- Nothing else: no INSERT/UPDATE/DELETE, no sequences, no functions.
REVOKE CREATE ON SCHEMA public FROM recs_reader;
