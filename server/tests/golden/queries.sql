-- Query shapes PostgreSQL accepts that need help on our side: repeated
-- output names, and the alias of a single-column table function naming
-- its column.
select 1, 1;
select 1 as x, 2 as x;
select a, a from (values (1)) as v (a);
select g from generate_series(1, 3) g;
select g.g * 2 as d from generate_series(1, 2) as g;
select x from generate_series(1, 2) g(x);
select count(*) from generate_series(1, 10) as s where s % 2 = 0;

-- A column and its casts: PostgreSQL names each after the column.
select a, a::text, a::bigint, (a)::text from (values (1), (2)) as v (a) order by 1;

-- Set-returning functions in FROM name their column after the function,
-- or after a bare alias.
SELECT * FROM generate_series(1, 2);
SELECT * FROM unnest(ARRAY[1, 2]);
SELECT * FROM unnest(ARRAY['a', 'b']) u;
SELECT g FROM generate_series(1, 2) g;
SELECT x.* FROM generate_series(1, 2) AS x(n);
