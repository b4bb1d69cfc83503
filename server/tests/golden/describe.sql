-- psql's \d for tables, views, sequences and indexes: what PostgreSQL 15
-- prints for the same schema.
CREATE TABLE pp (id int PRIMARY KEY, code text UNIQUE);
CREATE TABLE cc (
    id serial PRIMARY KEY,
    p int REFERENCES pp (id) ON DELETE CASCADE,
    u text UNIQUE,
    name varchar(20) NOT NULL DEFAULT 'x',
    amount numeric(10,2) DEFAULT 0,
    at timestamptz DEFAULT now(),
    flag boolean DEFAULT true,
    c int CHECK (c > 0),
    CONSTRAINT cc_c_small CHECK (c < 1000 AND c <> 7)
);
CREATE INDEX cc_u_idx ON cc (u);
CREATE UNIQUE INDEX cc_name_amount_idx ON cc (name, amount DESC);
CREATE TABLE ident (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
CREATE TABLE nokey (a int, b text);
CREATE SCHEMA s2;
CREATE TABLE s2.t (a int PRIMARY KEY, ref int REFERENCES pp (id));
\d cc
\d pp
\d ident
\d nokey
\d cc_id_seq
\d cc_pkey
\d cc_name_amount_idx
\d s2.t
\d s2.t_pkey
\d nope
-- A view's columns have the types its query produces.
CREATE VIEW cc_summary AS
    SELECT id, name, amount, at, flag, c * 2 AS doubled, count(*) OVER () AS total,
           upper(u) AS shout
    FROM cc;
\d cc_summary
SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale,
       is_nullable, is_updatable
FROM information_schema.columns WHERE table_name = 'cc_summary' ORDER BY ordinal_position;
