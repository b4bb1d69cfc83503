-- pg_catalog derived from our catalog: psql's \d family and the catalog
-- functions clients call, as PostgreSQL 15 prints them for the same schema
-- (its superuser named kimberlite; `\du` and `\l` name the role and the
-- database both have).
CREATE TABLE pp (id int PRIMARY KEY);
CREATE TABLE cc (id serial PRIMARY KEY, p int REFERENCES pp (id), u text UNIQUE,
                 name varchar(20) NOT NULL DEFAULT 'x', c int CHECK (c > 0));
CREATE INDEX cc_u_idx ON cc (u);
CREATE SCHEMA s2;
CREATE TABLE s2.t (a int);
CREATE VIEW vv AS SELECT id FROM pp;
COMMENT ON TABLE cc IS 'children';
\dt
\dn
\di
\dv
\ds
\du kimberlite
\l kimberlite
SELECT c.relname, c.relkind, n.nspname, pg_catalog.pg_table_is_visible(c.oid) AS visible
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('public', 's2') ORDER BY 1;
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
       (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_attrdef d
        WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef) AS default
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = 'cc'::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
SELECT conname, contype, pg_catalog.pg_get_constraintdef(oid, true) AS def,
       conrelid::pg_catalog.regclass AS ontable
FROM pg_catalog.pg_constraint WHERE conrelid = 'cc'::regclass ORDER BY conname;
SELECT pg_catalog.pg_get_indexdef(i.indexrelid, 0, true), i.indisprimary, i.indisunique
FROM pg_catalog.pg_index i WHERE i.indrelid = 'cc'::regclass ORDER BY 1;
SELECT 's2.t'::regclass::oid = (SELECT oid FROM pg_class WHERE relname = 't') AS same,
       's2.t'::regclass::text AS name_outside_path;
SELECT obj_description('cc'::regclass, 'pg_class') AS comment;
SELECT 'nope'::regclass;
SELECT relname FROM pg_class WHERE relname OPERATOR(pg_catalog.~) '^(cc)$' COLLATE pg_catalog.default;
SELECT typname, typlen FROM pg_type WHERE oid IN (23, 25, 1043) ORDER BY oid;
