-- Schemas: CREATE/DROP SCHEMA, qualified names, search_path.
\set VERBOSITY verbose
CREATE SCHEMA sales;
CREATE SCHEMA sales;
CREATE SCHEMA IF NOT EXISTS sales;
CREATE SCHEMA pg_mine;
CREATE TABLE sales.orders (id serial PRIMARY KEY, amount int);
CREATE TABLE orders (id int PRIMARY KEY, note text);
INSERT INTO sales.orders (amount) VALUES (10), (20);
INSERT INTO orders VALUES (1, 'public one');
SELECT * FROM sales.orders ORDER BY id;
SELECT * FROM orders;
SELECT * FROM public.orders;
SELECT * FROM nope.orders;
SELECT o.amount, p.note FROM sales.orders o JOIN public.orders p ON p.id = o.id;
-- The search path decides what unqualified names mean.
SHOW search_path;
SET search_path = sales, public;
SELECT * FROM orders ORDER BY id;
SELECT current_schema();
INSERT INTO orders (amount) VALUES (30);
SELECT count(*) FROM sales.orders;
CREATE TABLE items (sku text PRIMARY KEY, order_id int REFERENCES orders);
INSERT INTO items VALUES ('a', 1);
INSERT INTO items VALUES ('b', 99);
SELECT * FROM sales.items;
CREATE VIEW big AS SELECT id FROM orders WHERE amount > 15;
SELECT * FROM sales.big ORDER BY id;
CREATE INDEX ON orders (amount);
SELECT id FROM orders WHERE amount = 20;
SELECT nextval('orders_id_seq');
SELECT nextval('sales.orders_id_seq');
COPY orders (amount) FROM STDIN;
40
\.
SELECT id, amount FROM sales.orders ORDER BY id;
SET search_path = public;
SELECT * FROM orders;
SELECT * FROM items;
SELECT * FROM sales.items;
SET search_path = nope, "$user", public;
SELECT current_schema();
CREATE SCHEMA kimberlite;
SET search_path = nope;
SET search_path = "$user", public;
-- DROP SCHEMA needs CASCADE for what it holds.
DROP SCHEMA sales;
DROP SCHEMA nope;
DROP SCHEMA IF EXISTS nope;
BEGIN;
DROP SCHEMA sales CASCADE;
SELECT * FROM sales.orders;
ROLLBACK;
SELECT count(*) FROM sales.orders;
DROP SCHEMA sales CASCADE;
SELECT * FROM orders;
DROP SCHEMA kimberlite;
