-- ON CONFLICT on UNIQUE constraints (not only the primary key).
create table users (id serial primary key, email text unique, name text, visits int not null default 1);
insert into users (email, name) values ('a@x', 'Ann'), ('b@x', 'Bob');
insert into users (email, name) values ('a@x', 'Ann again') on conflict (email) do update set visits = users.visits + 1, name = excluded.name returning id, email, name, visits;
insert into users (email, name) values ('b@x', 'skip'), ('c@x', 'Cy') on conflict do nothing returning email;
insert into users (email, name) values ('c@x', 'x') on conflict on constraint users_email_key do nothing;
insert into users (id, email, name) values (1, 'zz@x', 'pk clash') on conflict (email) do nothing;
insert into users (email, name) values ('d@x', 'D'), ('d@x', 'D2') on conflict (email) do update set name = excluded.name;
insert into users (email, name) values ('d@x', 'D'), ('d@x', 'D2') on conflict (email) do nothing;
insert into users (email, name) values (null, 'n1'), (null, 'n2') on conflict (email) do nothing;
insert into users (email, name) values ('e@x', 'E') on conflict (name) do nothing;
select id, email, name, visits from users order by id;
