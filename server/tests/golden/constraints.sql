-- UNIQUE, CHECK, NOT NULL and FOREIGN KEY constraints with their
-- actions; errors with PostgreSQL's SQLSTATE, message, detail and name.
\set VERBOSITY verbose
create table dept (id int primary key, code text unique, name text not null);
insert into dept values (1, 'eng', 'Engineering'), (2, 'ops', 'Operations'), (3, null, 'Unassigned'), (4, null, 'Spare');
insert into dept values (5, 'eng', 'Duplicate');
insert into dept values (1, 'new', 'Dup key');
update dept set code = 'ops' where id = 1;
update dept set code = null where id = 1;
update dept set code = 'eng' where id = 1;
create table emp (
  id int primary key,
  dept_id int references dept on delete cascade,
  dept_code text,
  email text not null,
  salary numeric(10, 2) check (salary > 0),
  bonus numeric(10, 2) default 0,
  unique (email),
  check (bonus <= salary),
  constraint emp_code_fk foreign key (dept_code) references dept (code) on update cascade on delete set null
);
insert into emp values (10, 1, 'eng', 'a@x', 100, 10);
insert into emp values (11, 2, 'ops', 'b@x', 200, 0), (12, null, null, 'c@x', 50, 5);
insert into emp values (13, 9, null, 'd@x', 10, 0);
insert into emp values (13, 1, 'zzz', 'd@x', 10, 0);
insert into emp values (13, 1, null, 'a@x', 10, 0);
insert into emp values (13, 1, null, 'd@x', -1, 0);
insert into emp values (13, 1, null, 'd@x', 10, 20);
insert into emp values (13, 1, null, null, 10, 0);
insert into emp (id, dept_id, email, salary) values (13, 1, 'd@x', null);
select * from emp order by id;
update emp set dept_id = 7 where id = 10;
update emp set salary = -5 where id = 11;
update dept set code = 'engineering' where id = 1;
select id, dept_code from emp order by id;
delete from dept where id = 2;
select id, dept_id, dept_code from emp order by id;
delete from dept where id = 1;
select id, dept_id from emp order by id;
update dept set id = 30 where id = 3;
-- RESTRICT and NO ACTION refuse; chains of cascades follow.
create table region (id int primary key);
create table office (id int primary key, region_id int not null references region on delete restrict);
create table desk (id int primary key, office_id int references office on delete cascade);
insert into region values (1), (2);
insert into office values (100, 1), (200, 2);
insert into desk values (1, 100), (2, 100), (3, 200);
delete from region where id = 1;
delete from office where id = 100;
select * from desk order by id;
update office set id = 300 where id = 200;
-- self reference and multi-column keys
create table node (id int primary key, parent int references node on delete cascade);
insert into node values (1, null), (2, 1), (3, 2), (4, null);
insert into node values (5, 99);
delete from node where id = 1;
select * from node order by id;
create table pair (a int, b int, note text, primary key (a, b));
create table pair_ref (id int primary key, a int, b int, foreign key (a, b) references pair on delete set null);
insert into pair values (1, 1, 'x'), (1, 2, 'y');
insert into pair_ref values (1, 1, 1), (2, 1, 2), (3, 1, null), (4, null, 7);
insert into pair_ref values (5, 2, 2);
delete from pair where b = 1;
select * from pair_ref order by id;
create table uniq2 (a int, b int, unique (a, b));
insert into uniq2 values (1, 1), (1, 2), (1, null), (1, null);
insert into uniq2 values (1, 2);
-- constraints inside transactions and savepoints
begin;
insert into dept values (50, 'tmp', 'Temp');
insert into emp values (50, 50, 'tmp', 'tmp@x', 1, 0);
savepoint s;
insert into emp values (51, 50, 'tmp', 'tmp@x', 1, 0);
rollback to s;
delete from dept where id = 50;
select count(*) from emp where id = 50;
commit;
-- definitions PostgreSQL refuses
create table bad1 (id int references nosuch);
create table bad2 (id int references dept (name));
create table bad3 (id int, foreign key (id, id) references dept);
create table bad4 (id int primary key, constraint c check (id > 0), constraint c check (id < 9));
drop table dept;
drop table region;
drop table region, office, desk;
drop table dept cascade;
insert into emp values (60, 99, 'nope', 'e@x', 1, 0);
select id, dept_id from emp order by id;
-- a cascade that moves rows to a new primary key
create table kp (id int primary key);
create table kc (pid int references kp on update cascade, n int, primary key (pid, n));
insert into kp values (1), (2);
insert into kc values (1, 1), (1, 2), (2, 1);
update kp set id = 10 where id = 1;
select * from kc order by pid, n;
update kp set id = 2 where id = 10;
update kc set n = 5 where pid = 10 and n = 1;
update kp set id = 20 where id = 10;
select * from kc order by pid, n;
