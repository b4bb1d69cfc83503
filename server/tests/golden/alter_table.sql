-- ALTER TABLE: every form, with rows written before and after each change.
\set VERBOSITY verbose
CREATE TABLE acct (id int, owner text, balance int);
INSERT INTO acct VALUES (1, 'ann', 10), (2, 'bob', 20), (3, 'cy', NULL);
-- ADD COLUMN with a default fills existing rows; NOT NULL needs one.
ALTER TABLE acct ADD COLUMN region text DEFAULT 'eu';
ALTER TABLE acct ADD COLUMN score int NOT NULL;
ALTER TABLE acct ADD COLUMN score int NOT NULL DEFAULT 0;
ALTER TABLE acct ADD COLUMN IF NOT EXISTS score int;
ALTER TABLE acct ADD COLUMN serial_no serial;
INSERT INTO acct (id, owner, balance) VALUES (4, 'dee', 40);
SELECT * FROM acct ORDER BY id;
-- A primary key over existing rows: NULLs and duplicates are refused.
INSERT INTO acct (id, owner) VALUES (4, 'dup');
ALTER TABLE acct ADD PRIMARY KEY (id);
DELETE FROM acct WHERE owner = 'dup';
ALTER TABLE acct ADD PRIMARY KEY (id);
ALTER TABLE acct ADD PRIMARY KEY (owner);
INSERT INTO acct (id, owner) VALUES (4, 'again');
SELECT * FROM acct WHERE id = 2;
-- UNIQUE and CHECK over existing rows.
ALTER TABLE acct ADD CONSTRAINT acct_owner_key UNIQUE (owner);
ALTER TABLE acct ADD CHECK (balance > 15);
ALTER TABLE acct ADD CHECK (balance >= 0);
INSERT INTO acct (id, owner, balance) VALUES (5, 'eve', -1);
INSERT INTO acct (id, owner, balance) VALUES (5, 'ann', 1);
-- SET / DROP NOT NULL and defaults.
ALTER TABLE acct ALTER COLUMN balance SET NOT NULL;
UPDATE acct SET balance = 0 WHERE balance IS NULL;
ALTER TABLE acct ALTER COLUMN balance SET NOT NULL;
INSERT INTO acct (id, owner, balance) VALUES (6, 'fay', NULL);
ALTER TABLE acct ALTER COLUMN balance DROP NOT NULL;
ALTER TABLE acct ALTER COLUMN id DROP NOT NULL;
ALTER TABLE acct ALTER COLUMN region SET DEFAULT 'us';
INSERT INTO acct (id, owner, balance) VALUES (6, 'fay', 60);
ALTER TABLE acct ALTER COLUMN region DROP DEFAULT;
INSERT INTO acct (id, owner, balance) VALUES (7, 'gus', 70);
SELECT id, owner, balance, region FROM acct ORDER BY id;
-- Renames: the CHECK follows its column; the key keeps its name.
ALTER TABLE acct RENAME COLUMN balance TO amount;
ALTER TABLE acct RENAME COLUMN nope TO other;
ALTER TABLE acct RENAME COLUMN amount TO owner;
INSERT INTO acct (id, owner, amount) VALUES (8, 'hal', -5);
ALTER TABLE acct RENAME TO account;
DROP TABLE acct;
INSERT INTO account (id, owner, amount) VALUES (4, 'x', 1);
SELECT id, owner, amount FROM account ORDER BY id;
-- Type changes: automatic where a cast exists, USING otherwise.
ALTER TABLE account ALTER COLUMN id TYPE bigint;
ALTER TABLE account ALTER COLUMN owner TYPE varchar(2);
ALTER TABLE account ALTER COLUMN owner TYPE varchar(10);
ALTER TABLE account ALTER COLUMN region TYPE int;
ALTER TABLE account ALTER COLUMN region TYPE int USING length(region);
SELECT id, owner, region FROM account WHERE id = 3;
SELECT id * 10000000000 AS big, region + 1 AS next FROM account WHERE id = 1;
-- Foreign keys over existing rows.
CREATE TABLE txn (id int PRIMARY KEY, account_id bigint);
INSERT INTO txn VALUES (1, 1), (2, 99);
ALTER TABLE txn ADD FOREIGN KEY (account_id) REFERENCES account;
DELETE FROM txn WHERE id = 2;
ALTER TABLE txn ADD FOREIGN KEY (account_id) REFERENCES account ON DELETE CASCADE;
DELETE FROM account WHERE id = 1;
SELECT * FROM txn;
INSERT INTO txn VALUES (3, 2);
ALTER TABLE account DROP CONSTRAINT account_pkey;
ALTER TABLE account DROP CONSTRAINT nope;
ALTER TABLE account DROP CONSTRAINT IF EXISTS nope;
ALTER TABLE txn DROP CONSTRAINT txn_account_id_fkey;
INSERT INTO txn VALUES (4, 12345);
ALTER TABLE account DROP CONSTRAINT acct_pkey;
INSERT INTO account (id, owner, amount) VALUES (2, 'zed', 5);
SELECT id, owner FROM account WHERE id = 2 ORDER BY owner;
-- DROP COLUMN takes its constraints with it.
ALTER TABLE account DROP COLUMN amount;
INSERT INTO account (id, owner) VALUES (9, 'ivy');
ALTER TABLE account DROP COLUMN nope;
ALTER TABLE account DROP COLUMN IF EXISTS nope;
ALTER TABLE account DROP COLUMN score, DROP COLUMN serial_no;
SELECT * FROM account ORDER BY id, owner;
-- An ALTER in a rolled-back block leaves nothing behind.
BEGIN;
ALTER TABLE account ADD COLUMN temp int DEFAULT 1;
ALTER TABLE account RENAME TO gone;
SELECT count(*) FROM gone WHERE temp = 1;
ROLLBACK;
SELECT * FROM account ORDER BY id, owner LIMIT 2;
ALTER TABLE nope ADD COLUMN x int;
ALTER TABLE IF EXISTS nope ADD COLUMN x int;
COMMENT ON TABLE account IS 'customer accounts';
COMMENT ON COLUMN account.owner IS 'who';
COMMENT ON COLUMN account.nope IS 'who';
COMMENT ON TABLE nope IS 'x';
-- Storage options are accepted, as pgbench sends them.
CREATE TABLE filled (a int, filler char(10)) WITH (fillfactor = 90);
INSERT INTO filled VALUES (1, 'x');
SELECT a FROM filled;
