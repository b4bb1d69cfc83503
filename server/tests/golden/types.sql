-- Types beyond the foundation's, DateStyle and IntervalStyle output, and
-- timestamptz input in the session's zone; recorded from PostgreSQL 15
-- (run with PGTZ=UTC).
create table k (id int primary key, at timestamptz, d date, ts timestamp, iv interval, ia int[], ta text[], n numeric, o oid, nm name);
set timezone = 'Europe/Paris';
insert into k values (1, '2024-02-29 13:14:15.5', '2024-02-29', '2024-02-29 13:14:15.5', '1 year 2 mons 3 days 04:05:06.5', '{1,NULL,3}', '{"a b",c,""}', 'NaN', 26, 'pg_class'),
  (2, '2024-07-01 00:30', '0044-03-15 BC', 'infinity', '-1 days +02:00:00', '{}', '{}', '-Infinity', 0, ''),
  (3, '2024-10-27 02:30', '-infinity', '0001-12-31 23:59:59.5 BC', '@ 1 hour ago', null, '{"{}",NULL}', '12.5', null, null);
select * from k order by id;
select id, date_trunc('day', at) from k where id = 2;
set datestyle = 'SQL, DMY';
select id, at, d, ts from k order by id;
set datestyle = 'Postgres, MDY';
select id, at, d, ts from k order by id;
set datestyle = German;
show datestyle;
select id, at, d, ts from k order by id;
reset datestyle;
set intervalstyle = postgres_verbose;
select id, iv from k order by id;
set intervalstyle = sql_standard;
select id, iv from k order by id;
set intervalstyle = iso_8601;
select id, iv from k order by id;
reset all;
select id, at from k order by id;
select id from k where at = '2024-02-29 12:14:15.5';
select 1 as one, 3000000000 as big, array[1, 2] as arr, 'infinity'::timestamptz as inf, '1 day 02:00'::interval as iv;
\x
select * from k where id = 1;

-- json and jsonb casts in expressions: jsonb prints its canonical form.
select '{"b": 1, "a": [1,2]}'::jsonb as b, '{"b": 1, "a": [1,2]}'::json as j, cast('[true, null]' as jsonb) as c;
create table json_casts (id int primary key, j jsonb);
insert into json_casts values (1, '{"k": "v", "a": 1}'::jsonb), (2, null);
select id, j, j::text, (j::text)::jsonb, j::json from json_casts order by id;
drop table json_casts;

-- Arrays written in text form: '{…}'::type[] reads as PostgreSQL reads it.
select '{1,2}'::int[], '{}'::text[] as empty, '{a,NULL,"b c"}'::text[] as texts,
       '{t,f}'::boolean[] as bools, cast('{1.5,-2}' as float8[]) as floats, '{7}'::int8[] as big;
select 2 = any('{1,2,3}'::int[]) as found, array_length('{1,2,3}'::int2[], 1) as len;
create table text_arrays (id int primary key, tags text[], ns int[]);
insert into text_arrays values (1, '{x,y}'::text[], '{1,2}'::int[]);
select * from text_arrays where tags = '{x,y}'::text[] and 1 = any(ns);
select '{1,x}'::int[];
select '{1'::int[];
drop table text_arrays;
