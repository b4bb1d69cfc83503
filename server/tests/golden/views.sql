-- Views: over joins, over views, filtered, replaced, dropped.
\set VERBOSITY verbose
CREATE TABLE dept (id int PRIMARY KEY, name text);
CREATE TABLE emp (id int PRIMARY KEY, name text, dept_id int REFERENCES dept, salary int);
INSERT INTO dept VALUES (1, 'eng'), (2, 'ops');
INSERT INTO emp VALUES (1, 'ann', 1, 100), (2, 'bob', 1, 80), (3, 'cy', 2, 70);
CREATE VIEW staff AS SELECT e.id, e.name, d.name AS dept, e.salary FROM emp e JOIN dept d ON d.id = e.dept_id;
SELECT * FROM staff ORDER BY id;
SELECT name FROM staff WHERE dept = 'eng' AND salary > 90;
CREATE VIEW payroll (dept, total, heads) AS SELECT dept, sum(salary), count(*) FROM staff GROUP BY dept;
SELECT * FROM payroll ORDER BY dept;
SELECT p.dept, p.total, d.id FROM payroll p JOIN dept d ON d.name = p.dept ORDER BY 1;
WITH top AS (SELECT * FROM staff WHERE salary >= 80) SELECT count(*) FROM top;
SELECT (SELECT max(total) FROM payroll) AS biggest;
-- Views see what their reader sees: new rows, the block's own writes.
INSERT INTO emp VALUES (4, 'dee', 2, 75);
SELECT * FROM payroll ORDER BY dept;
BEGIN;
UPDATE emp SET salary = 0 WHERE dept_id = 2;
SELECT * FROM payroll ORDER BY dept;
ROLLBACK;
SELECT * FROM payroll WHERE dept = 'ops';
-- CREATE OR REPLACE keeps the columns; errors as PostgreSQL's.
CREATE VIEW staff AS SELECT 1;
CREATE OR REPLACE VIEW payroll (dept, total, heads, top) AS SELECT dept, sum(salary), count(*), max(salary) FROM staff GROUP BY dept;
SELECT * FROM payroll ORDER BY dept;
CREATE OR REPLACE VIEW payroll AS SELECT dept FROM staff;
CREATE VIEW two (a, b, c) AS SELECT 1, 2;
CREATE VIEW named AS SELECT 1 AS one, 'x' AS two;
SELECT * FROM named;
-- Dependencies: tables and views under a view need CASCADE.
DROP TABLE emp;
DROP VIEW staff;
DROP TABLE staff;
DROP VIEW dept;
DROP VIEW nope;
DROP VIEW IF EXISTS nope;
DROP VIEW payroll;
SELECT count(*) FROM staff;
DROP TABLE emp CASCADE;
DROP VIEW payroll;
DROP VIEW named;
-- Changes to a table under a view: refused, followed, or cascaded.
CREATE TABLE base (a int, b int, c int);
INSERT INTO base VALUES (1, 2, 3);
CREATE VIEW over_base AS SELECT a, b FROM base;
ALTER TABLE base ALTER COLUMN a TYPE bigint;
ALTER TABLE base DROP COLUMN a;
ALTER TABLE base DROP COLUMN c;
ALTER TABLE base RENAME TO renamed;
SELECT * FROM over_base;
ALTER TABLE renamed DROP COLUMN a CASCADE;
SELECT * FROM renamed;
