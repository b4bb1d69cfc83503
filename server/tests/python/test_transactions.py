"""Isolation levels and savepoints through psycopg 3, two sessions at a
time, deterministic (each step waits for the previous one)."""

import threading

import psycopg
import pytest


def connect(server, **kwargs):
    return psycopg.connect(server["dsn"], **kwargs)


def repeatable(server):
    """A connection whose transactions psycopg opens with BEGIN ISOLATION
    LEVEL REPEATABLE READ, as applications ask for it."""
    conn = connect(server)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


def test_repeatable_read_keeps_its_snapshot_and_refuses_lost_updates(server):
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE rr (id int PRIMARY KEY, bal int NOT NULL)")
        setup.execute("INSERT INTO rr VALUES (1, 100), (2, 0)")
    a = repeatable(server)
    b = connect(server, autocommit=True)
    assert a.execute("SHOW transaction_isolation").fetchone() == ("repeatable read",)
    assert a.execute("SELECT bal FROM rr WHERE id = 1").fetchone() == (100,)
    b.execute("UPDATE rr SET bal = 200 WHERE id = 1")
    # The block still reads its first snapshot...
    assert a.execute("SELECT bal FROM rr WHERE id = 1").fetchone() == (100,)
    # ...and may not overwrite what it did not see.
    with pytest.raises(psycopg.errors.SerializationFailure):
        a.execute("UPDATE rr SET bal = bal + 1 WHERE id = 1")
    a.rollback()
    # The retry sees the committed value; nothing was lost.
    a.execute("UPDATE rr SET bal = bal + 1 WHERE id = 1")
    a.commit()
    assert b.execute("SELECT bal FROM rr WHERE id = 1").fetchone() == (201,)
    # Under READ COMMITTED each statement sees the newest commit.
    a.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    assert a.execute("SELECT bal FROM rr WHERE id = 2").fetchone() == (0,)
    b.execute("UPDATE rr SET bal = 5 WHERE id = 2")
    assert a.execute("SELECT bal FROM rr WHERE id = 2").fetchone() == (5,)
    a.rollback()
    a.close()
    b.close()


def test_exactly_one_of_two_repeatable_read_updaters_gets_40001(server):
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE rr2 (id int PRIMARY KEY, n int NOT NULL)")
        setup.execute("INSERT INTO rr2 VALUES (1, 0)")
    a, b = repeatable(server), repeatable(server)
    for c in (a, b):
        assert c.execute("SELECT n FROM rr2").fetchone() == (0,)
    a.execute("UPDATE rr2 SET n = n + 1")
    a.commit()
    with pytest.raises(psycopg.errors.SerializationFailure):
        b.execute("UPDATE rr2 SET n = n + 1")
    b.rollback()
    assert b.execute("SELECT n FROM rr2").fetchone() == (1,)
    b.rollback()
    a.close()
    b.close()


def test_isolation_level_rules(server):
    with connect(server, autocommit=True) as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT 1")
        with pytest.raises(psycopg.errors.ActiveSqlTransaction):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute("ROLLBACK")
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
        conn.execute("ROLLBACK")
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute("BEGIN")
        assert conn.execute("SHOW transaction_isolation").fetchone() == ("repeatable read",)
        conn.execute("ROLLBACK")


def test_nested_psycopg_transactions_are_savepoints(server):
    with connect(server, autocommit=True) as conn:
        conn.execute("CREATE TABLE sp (id int PRIMARY KEY)")
        with conn.transaction():
            conn.execute("INSERT INTO sp VALUES (1)")
            try:
                with conn.transaction():  # SAVEPOINT
                    conn.execute("INSERT INTO sp VALUES (2)")
                    conn.execute("INSERT INTO sp VALUES (1)")  # 23505
            except psycopg.errors.UniqueViolation:
                pass  # ROLLBACK TO SAVEPOINT: the block goes on
            with conn.transaction():
                conn.execute("INSERT INTO sp VALUES (3)")  # RELEASE keeps it
        rows = conn.execute("SELECT id FROM sp ORDER BY id").fetchall()
        assert rows == [(1,), (3,)]
        with pytest.raises(psycopg.errors.UndefinedSavepoint if hasattr(psycopg.errors, "UndefinedSavepoint") else psycopg.errors.InvalidSavepointSpecification):
            with conn.transaction():
                conn.execute("ROLLBACK TO SAVEPOINT nowhere")


def test_bank_transfers_under_repeatable_read_keep_the_total(server):
    accounts, workers, transfers = 5, 4, 25
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE bank (id int PRIMARY KEY, bal int NOT NULL)")
        setup.execute(
            "INSERT INTO bank SELECT value, 1000 FROM generate_series(1, %s) AS value" % accounts
        )
    retries = []

    def worker(seed):
        done, attempts = 0, 0
        with repeatable(server) as conn:
            while done < transfers and attempts < transfers * 50:
                attempts += 1
                src = (seed * 7 + done) % accounts + 1
                dst = (src % accounts) + 1
                try:
                    conn.execute("UPDATE bank SET bal = bal - 10 WHERE id = %s", (src,))
                    conn.execute("UPDATE bank SET bal = bal + 10 WHERE id = %s", (dst,))
                    conn.commit()
                    done += 1
                except psycopg.errors.SerializationFailure:
                    conn.rollback()
                    retries.append(1)
        assert done == transfers

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with connect(server) as conn:
        total, = conn.execute("SELECT sum(bal) FROM bank").fetchone()
    assert total == accounts * 1000


def run_in_thread(fn):
    """Starts `fn` in a thread; returns (thread, result dict)."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except Exception as error:  # the test inspects it
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def test_read_committed_writer_waits_then_rechecks_its_where_clause(server):
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE rc (id int PRIMARY KEY, bal int NOT NULL)")
        setup.execute("INSERT INTO rc VALUES (1, 100)")
    a = connect(server)
    b = connect(server, autocommit=True)
    reader = connect(server, autocommit=True)
    a.execute("UPDATE rc SET bal = 50 WHERE id = 1")  # A's block stays open
    thread, result = run_in_thread(
        lambda: b.execute(
            "UPDATE rc SET bal = bal - 100 WHERE id = 1 AND bal >= 100"
        ).rowcount
    )
    thread.join(timeout=0.5)
    # While B waits for A's row, readers are not blocked and see the old row.
    assert thread.is_alive(), "B waits for A's row lock"
    assert reader.execute("SELECT bal FROM rc").fetchone() == (100,)
    a.commit()
    thread.join(timeout=30)
    assert result == {"value": 0}, "B re-checked bal >= 100 on A's row: UPDATE 0"
    assert reader.execute("SELECT bal FROM rc").fetchone() == (50,)
    for c in (a, b, reader):
        c.close()


def test_read_committed_concurrent_increments_equal_serial_execution(server):
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE rc2 (id int PRIMARY KEY, n int NOT NULL)")
        setup.execute("INSERT INTO rc2 VALUES (1, 0)")
    a, b = connect(server), connect(server)
    a.execute("UPDATE rc2 SET n = n + 1")
    thread, result = run_in_thread(lambda: b.execute("UPDATE rc2 SET n = n + 1").rowcount)
    thread.join(timeout=0.5)
    assert thread.is_alive()
    a.commit()
    thread.join(timeout=30)
    assert result == {"value": 1}
    b.commit()
    assert a.execute("SELECT n FROM rc2").fetchone() == (2,)
    a.rollback()
    a.close()
    b.close()


def test_a_deadlock_fails_one_side_with_40p01(server):
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE dl (id int PRIMARY KEY, v int NOT NULL)")
        setup.execute("INSERT INTO dl VALUES (1, 0), (2, 0)")
    a, b = connect(server), connect(server)
    a.execute("UPDATE dl SET v = 1 WHERE id = 1")
    b.execute("UPDATE dl SET v = 2 WHERE id = 2")
    thread, result = run_in_thread(lambda: a.execute("UPDATE dl SET v = 1 WHERE id = 2").rowcount)
    thread.join(timeout=0.5)
    assert thread.is_alive(), "A waits for B"
    with pytest.raises(psycopg.errors.DeadlockDetected):
        b.execute("UPDATE dl SET v = 2 WHERE id = 1")
    b.rollback()
    thread.join(timeout=30)
    assert result == {"value": 1}, "A proceeds once B is gone"
    a.commit()
    with connect(server) as check:
        assert check.execute("SELECT v FROM dl ORDER BY id").fetchall() == [(1,), (1,)]
    a.close()
    b.close()


def test_no_increment_is_lost_under_read_committed(server):
    workers, increments = 4, 25
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)")
        setup.execute("INSERT INTO counter VALUES (1, 0)")
    failures = []

    def worker():
        with connect(server, autocommit=True) as conn:
            for _ in range(increments):
                try:
                    conn.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
                except psycopg.Error as error:
                    failures.append(error)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    with connect(server) as conn:
        assert conn.execute("SELECT n FROM counter").fetchone() == (workers * increments,)


def test_tpcb_like_workload_at_scale_1_has_no_failed_transactions(server):
    """pgbench's TPC-B script (every client updates the one branch row),
    driven from Python until the catalog issue lets pgbench -i run."""
    clients, transactions, accounts, tellers = 4, 25, 100, 10
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int NOT NULL)")
        setup.execute("CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int NOT NULL)")
        setup.execute("CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int NOT NULL)")
        setup.execute("CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp)")
        setup.execute("INSERT INTO pgbench_branches VALUES (1, 0)")
        setup.execute("INSERT INTO pgbench_tellers SELECT value, 1, 0 FROM generate_series(1, %d) AS value" % tellers)
        setup.execute("INSERT INTO pgbench_accounts SELECT value, 1, 0 FROM generate_series(1, %d) AS value" % accounts)
    failures = []

    def client(seed):
        with connect(server) as conn:
            for i in range(transactions):
                aid = (seed * 31 + i * 7) % accounts + 1
                tid = (seed + i) % tellers + 1
                delta = (seed * 13 + i * 17) % 10001 - 5000
                try:
                    conn.execute("UPDATE pgbench_accounts SET abalance = abalance + %s WHERE aid = %s", (delta, aid))
                    conn.execute("SELECT abalance FROM pgbench_accounts WHERE aid = %s", (aid,)).fetchone()
                    conn.execute("UPDATE pgbench_tellers SET tbalance = tbalance + %s WHERE tid = %s", (delta, tid))
                    conn.execute("UPDATE pgbench_branches SET bbalance = bbalance + %s WHERE bid = 1", (delta,))
                    conn.execute(
                        "INSERT INTO pgbench_history VALUES (%s, 1, %s, %s, now())", (tid, aid, delta)
                    )
                    conn.commit()
                except psycopg.Error as error:
                    failures.append(error)
                    conn.rollback()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert failures == []
    with connect(server) as conn:
        history, = conn.execute("SELECT sum(delta) FROM pgbench_history").fetchone()
        branch, = conn.execute("SELECT bbalance FROM pgbench_branches").fetchone()
        tellers_sum, = conn.execute("SELECT sum(tbalance) FROM pgbench_tellers").fetchone()
        accounts_sum, = conn.execute("SELECT sum(abalance) FROM pgbench_accounts").fetchone()
        count, = conn.execute("SELECT count(*) FROM pgbench_history").fetchone()
    assert count == clients * transactions
    assert history == branch == tellers_sum == accounts_sum


def test_insert_of_a_key_an_open_transaction_wrote_waits_for_it(server):
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE ik (id int PRIMARY KEY, v text)")
    a = connect(server)
    b = connect(server, autocommit=True)
    # A commits: B's insert of the same key then fails with 23505.
    a.execute("INSERT INTO ik VALUES (1, 'a')")
    thread, result = run_in_thread(lambda: b.execute("INSERT INTO ik VALUES (1, 'b')"))
    thread.join(timeout=0.5)
    assert thread.is_alive(), "B waits for A's insert of key 1"
    a.commit()
    thread.join(timeout=30)
    assert isinstance(result.get("error"), psycopg.errors.UniqueViolation), result
    # A rolls back: B's insert then succeeds.
    a.execute("INSERT INTO ik VALUES (2, 'a')")
    thread, result = run_in_thread(lambda: b.execute("INSERT INTO ik VALUES (2, 'b')").rowcount)
    thread.join(timeout=0.5)
    assert thread.is_alive()
    a.rollback()
    thread.join(timeout=30)
    assert result == {"value": 1}, result
    # ON CONFLICT DO NOTHING waits too, then does nothing.
    a.execute("INSERT INTO ik VALUES (3, 'a')")
    thread, result = run_in_thread(
        lambda: b.execute("INSERT INTO ik VALUES (3, 'b') ON CONFLICT DO NOTHING").rowcount
    )
    thread.join(timeout=0.5)
    assert thread.is_alive()
    a.commit()
    thread.join(timeout=30)
    assert result == {"value": 0}, result
    assert b.execute("SELECT id, v FROM ik ORDER BY id").fetchall() == [
        (1, "a"), (2, "b"), (3, "a")]
    a.close()
    b.close()


def test_select_for_update_locks_rows_and_reads_the_newest_version(server):
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE fu (id int PRIMARY KEY, bal int NOT NULL)")
        setup.execute("INSERT INTO fu VALUES (1, 100), (2, 100)")
    a = connect(server)
    b = connect(server, autocommit=True)
    c = connect(server, autocommit=True)
    # A reader that means to write holds the row: a writer waits for it.
    assert a.execute("SELECT bal FROM fu WHERE id = %s FOR UPDATE", (1,)).fetchone() == (100,)
    thread, result = run_in_thread(
        lambda: b.execute("UPDATE fu SET bal = bal + 1 WHERE id = 1").rowcount)
    thread.join(timeout=0.5)
    assert thread.is_alive(), "the UPDATE waits for the FOR UPDATE lock"
    # Other rows are not locked; plain readers never wait.
    assert c.execute("UPDATE fu SET bal = 7 WHERE id = 2").rowcount == 1
    assert c.execute("SELECT bal FROM fu WHERE id = 1").fetchone() == (100,)
    a.execute("UPDATE fu SET bal = bal - 30 WHERE id = 1")
    a.commit()
    thread.join(timeout=30)
    assert result == {"value": 1}
    assert b.execute("SELECT bal FROM fu WHERE id = 1").fetchone() == (71,)
    # FOR UPDATE waits for an open writer, then returns its committed row.
    a.execute("UPDATE fu SET bal = 500 WHERE id = 1")
    with pytest.raises(psycopg.errors.LockNotAvailable):
        b.execute("SELECT * FROM fu WHERE id = 1 FOR UPDATE NOWAIT")
    thread, result = run_in_thread(
        lambda: b.execute("SELECT bal FROM fu WHERE id = 1 FOR UPDATE").fetchone())
    thread.join(timeout=0.5)
    assert thread.is_alive()
    a.commit()
    thread.join(timeout=30)
    assert result == {"value": (500,)}, result
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        b.execute("SELECT * FROM fu a JOIN fu b ON a.id = b.id FOR UPDATE")
    for conn in (a, b, c):
        conn.close()


def test_skip_locked_hands_each_worker_a_different_job(server):
    with connect(server, autocommit=True) as setup:
        setup.execute("CREATE TABLE jobs (id int PRIMARY KEY, done bool NOT NULL DEFAULT false)")
        setup.execute("INSERT INTO jobs (id) VALUES (1), (2), (3)")
    take = "SELECT id FROM jobs WHERE NOT done ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
    workers = [connect(server) for _ in range(4)]
    taken = [w.execute(take).fetchall() for w in workers]
    # Nobody waited; each got a job of its own, the fourth none.
    assert taken == [[(1,)], [(2,)], [(3,)], []]
    # The held rows really are locked: NOWAIT on them fails.
    with connect(server) as other:
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute("SELECT * FROM jobs WHERE id = 2 FOR UPDATE NOWAIT")
    for worker, rows in zip(workers, taken):
        for (job,) in rows:
            worker.execute("UPDATE jobs SET done = true WHERE id = %s", (job,))
        worker.commit()
    with connect(server, autocommit=True) as check:
        assert check.execute("SELECT count(*) FROM jobs WHERE done").fetchone() == (3,)
        assert check.execute(take).fetchall() == []
    for worker in workers:
        worker.close()
