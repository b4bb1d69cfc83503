-- COPY FROM STDIN / TO STDOUT in text and CSV, recorded from PostgreSQL 15.
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int DEFAULT 7, note text);
COPY items FROM STDIN;
1	apple	3	crisp
2	tab\there	\N	back\\slash
3	new\nline	5	\N
\.
COPY items (id, name) FROM STDIN;
4	defaulted
\.
COPY items FROM STDIN WITH (FORMAT csv, HEADER true);
id,name,qty,note
5,"comma, inside",1,
6,"quote ""q""",2,""
7,"multi
line",3,x
\.
COPY items FROM STDIN WITH (FORMAT csv, DELIMITER ';', NULL 'NULL');
8;semi;NULL;NULL
\.
BEGIN;
CREATE TABLE frozen (id int, name text);
COPY frozen FROM STDIN WITH (FREEZE);
9	frozen
\.
COMMIT;
SELECT * FROM frozen;
SELECT id, name, qty, note, note IS NULL AS note_null FROM items ORDER BY id;
COPY items TO STDOUT;
COPY items (id, note) TO STDOUT WITH (FORMAT csv, HEADER true);
COPY items TO STDOUT WITH (FORMAT csv, DELIMITER '|', NULL '-', FORCE_QUOTE (name));
COPY (SELECT id, name FROM items WHERE id < 3 ORDER BY id) TO STDOUT;
COPY (SELECT 1 AS n, 'x' AS s) TO STDOUT WITH (FORMAT csv, HEADER true);
-- bad input: nothing of the failed COPY is applied
COPY items FROM STDIN;
10	ten	1	\N
11	eleven
\.
COPY items FROM STDIN;
12	twelve	1	x	extra
\.
COPY items FROM STDIN;
13	thirteen	many	x
\.
COPY items (id, name) FROM STDIN;
14	\N
\.
COPY items (id, name) FROM STDIN;
15	fifteen
1	duplicate
\.
COPY items (id, name) FROM STDIN WITH (FORMAT csv);
16,"unterminated
\.
SELECT count(*) FROM items WHERE id >= 10;
-- inside a transaction COPY is part of it
BEGIN;
COPY items (id, name) FROM STDIN;
20	in txn
\.
SELECT count(*) FROM items WHERE id = 20;
ROLLBACK;
SELECT count(*) FROM items WHERE id = 20;
BEGIN;
COPY items (id, name) FROM STDIN;
21	bad	x
\.
SELECT 1;
ROLLBACK;
COPY nope FROM STDIN;
COPY items (nope) FROM STDIN;
COPY items TO STDOUT WITH (FORMAT csv, QUOTE '''', FORCE_NOT_NULL (name));
COPY items TO STDOUT WITH (FORMAT text, QUOTE '"');
