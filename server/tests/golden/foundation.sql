-- The foundation, as psql sees it. Regenerate with UPDATE_GOLDENFILES=1.
SELECT version() LIKE 'PostgreSQL 15.%' AS is_pg15;
SHOW server_version;
CREATE TABLE patients (
    id integer PRIMARY KEY,
    name varchar(40) NOT NULL,
    ward char(3),
    admitted date,
    weight_kg numeric(5,1),
    notes text DEFAULT 'none'
);
INSERT INTO patients VALUES (1, 'Ada', 'A1', '2024-01-02', 61.5, 'stable'),
                            (2, 'Grace', 'B', '2024-02-03', NULL, DEFAULT);
INSERT INTO patients (id, name) VALUES (3, 'Linus') RETURNING id, name, notes;
SELECT * FROM patients ORDER BY id;
UPDATE patients SET weight_kg = weight_kg + 0.5 WHERE id = 1;
DELETE FROM patients WHERE id = 3;
SELECT ward, count(*) AS n, avg(weight_kg) AS avg_kg FROM patients GROUP BY ward ORDER BY ward;
-- errors keep the session usable
INSERT INTO patients VALUES (1, 'Dup');
INSERT INTO patients (id) VALUES (9);
INSERT INTO patients (id, name) VALUES (10, 'a name that is far too long for the forty character column');
SELECT * FROM no_such_table;
SELEC 1;
BEGIN;
INSERT INTO patients (id, name) VALUES (4, 'In txn');
SELECT count(*) AS inside FROM patients;
ROLLBACK;
SELECT count(*) AS after_rollback FROM patients;
SELECT NULL AS nothing, 1.5::double precision AS f, true AS b, 'x'::text AS t;
SELECT count(*), max(id), 1 + 1, '7'::int, name FROM patients GROUP BY name ORDER BY name;
DROP TABLE patients;
DROP TABLE IF EXISTS patients;
COMMIT;
CREATE TABLE IF NOT EXISTS t1 (id int PRIMARY KEY);
CREATE TABLE IF NOT EXISTS t1 (id int PRIMARY KEY);
BEGIN;
BEGIN;
COMMIT;
