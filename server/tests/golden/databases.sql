-- Databases: CREATE/DROP DATABASE; each database has a catalog of its own.
\set VERBOSITY verbose
\set home :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS kb_golden_shop;
DROP DATABASE IF EXISTS kb_golden_lab;
DROP DATABASE IF EXISTS kb_golden_x;
RESET client_min_messages;
CREATE DATABASE kb_golden_shop;
CREATE DATABASE kb_golden_shop;
CREATE DATABASE kb_golden_lab WITH TEMPLATE = template0 ENCODING 'UTF8' CONNECTION LIMIT -1;
CREATE DATABASE kb_golden_x FROBNICATE 1;
CREATE DATABASE IF NOT EXISTS kb_golden_x;
BEGIN;
CREATE DATABASE kb_golden_x;
ROLLBACK;
CREATE DATABASE kb_golden_x; SELECT 1;
CREATE TABLE here (id int PRIMARY KEY);
INSERT INTO here VALUES (1);
\set QUIET on
\c kb_golden_shop
\set QUIET off
SELECT current_database();
SELECT * FROM here;
CREATE TABLE here (name text);
INSERT INTO here VALUES ('shop');
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id serial PRIMARY KEY, amount int);
INSERT INTO sales.orders (amount) VALUES (5), (7);
SELECT * FROM here;
SELECT * FROM sales.orders ORDER BY id;
SELECT * FROM kb_golden_shop.sales.orders ORDER BY id;
SELECT * FROM kb_golden_lab.public.here;
DROP DATABASE kb_golden_shop;
\set QUIET on
\c kb_golden_lab
\set QUIET off
SELECT current_database();
SELECT * FROM here;
SELECT * FROM sales.orders;
CREATE TABLE here (lab boolean);
INSERT INTO here VALUES (true);
SELECT * FROM here;
\set QUIET on
\c :home
\set QUIET off
SELECT * FROM here;
DROP DATABASE kb_golden_shop;
DROP DATABASE kb_golden_shop;
DROP DATABASE IF EXISTS kb_golden_shop;
DROP DATABASE kb_golden_lab;
DROP DATABASE kb_golden_x;
