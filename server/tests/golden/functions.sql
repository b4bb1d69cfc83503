-- Built-in functions as clients look them up: pg_proc, ::regproc and
-- ::regprocedure both ways, psql's \df, pg_typeof. (PostgreSQL 15's rows;
-- only signatures whose types we have, so the patterns below name
-- functions whose every signature is one of ours.)
\df generate_series
\df version
\df concat*
\df
SELECT 'version'::regproc::oid AS version, 'lower(text)'::regprocedure::oid AS lower,
       'pg_catalog.concat_ws(text, "any")'::regprocedure::oid AS concat_ws;
SELECT 89::regproc AS by_oid, 3059::regprocedure AS signature, 0::regproc AS invalid,
       99999999::regproc AS unknown;
SELECT p.proname, p.prokind, p.proretset, p.pronargs, p.prorettype::regtype AS returns,
       pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_function_result(p.oid) AS result
FROM pg_catalog.pg_proc p WHERE p.oid IN (89, 870, 1067, 2147, 2803, 3058) ORDER BY p.oid;
SELECT count(*) > 0 AS listed FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'pg_catalog' AND p.proname = 'count' AND p.prokind = 'a';
SELECT pg_catalog.pg_function_is_visible(870) AS visible, pg_catalog.pg_function_is_visible(0) AS none;
SELECT 'nope'::regproc;
SELECT 'nope(int)'::regprocedure;
CREATE TABLE typed (a int, b varchar(20), c numeric(10,2), d timestamptz, e boolean, f text[]);
INSERT INTO typed VALUES (1, 'x', 1.5, now(), true, ARRAY['y']);
SELECT pg_typeof(a) AS a, pg_typeof(b) AS b, pg_typeof(c) AS c, pg_typeof(d) AS d,
       pg_typeof(e) AS e, pg_typeof(f) AS f FROM typed;
SELECT pg_typeof(1) AS int, pg_typeof(now()) AS now, pg_typeof('x'::text) AS text,
       pg_typeof(ARRAY[1, 2]) AS array, pg_typeof(NULL) AS null, pg_typeof(count(*)) AS count
FROM typed;
SELECT pg_typeof('a') AS quoted, pg_typeof(1.5) AS decimal, pg_typeof(3000000000) AS big,
       pg_typeof(7) AS small, pg_typeof(1e3) AS exponent;
