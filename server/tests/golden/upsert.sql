-- INSERT … ON CONFLICT on the primary key: DO NOTHING, DO UPDATE with
-- excluded and WHERE, RETURNING, the errors; recorded from PostgreSQL 15.
create table stock (sku text primary key, qty int not null, note text);
insert into stock values ('a', 1, 'first'), ('b', 2, null);
insert into stock values ('a', 10, 'dup'), ('c', 3, 'new') on conflict do nothing;
insert into stock values ('c', 30, 'again'), ('c', 31, 'twice') on conflict (sku) do nothing returning sku, qty;
select * from stock order by sku;
insert into stock as s values ('a', 5, 'more'), ('d', 4, 'fresh')
  on conflict (sku) do update set qty = s.qty + excluded.qty, note = excluded.note
  returning *;
insert into stock values ('b', 100, 'ignored'), ('e', 5, 'e')
  on conflict on constraint stock_pkey do update set qty = excluded.qty where stock.qty > 50
  returning sku, qty, note;
update stock set qty = qty;
insert into stock values ('z', 1, 'x'), ('z', 2, 'y') on conflict (sku) do update set qty = excluded.qty;
insert into stock values ('a', 1, 'x') on conflict (qty) do nothing;
insert into stock values ('a', 1, 'x') on conflict on constraint nope do nothing;
insert into stock values ('a', null, 'x') on conflict do nothing;
begin;
insert into stock values ('f', 6, 'in block') on conflict (sku) do update set qty = excluded.qty;
insert into stock values ('f', 60, 'in block again') on conflict (sku) do update set qty = excluded.qty, note = excluded.note;
commit;
select * from stock order by sku;
