//! The types beyond the foundation's — interval, arrays, oid, name,
//! `"char"`, numeric NaN/Infinity, infinite timestamps and dates, BC dates —
//! through tokio-postgres: typed binary parameters in, binary and text
//! results out, PostgreSQL's errors for bad input, and a `kill -9` restart.
//! (The byte-for-byte comparison with PostgreSQL 15 is the `types`
//! transcript in `transcripts.rs`.)

mod common;

use std::error::Error;

use bytes::{BufMut, BytesMut};
use chrono::NaiveDate;
use common::{sqlstate, TestServer};
use postgres_types::{accepts, to_sql_checked, FromSql, IsNull, Timestamp, ToSql, Type};
use tokio_postgres::SimpleQueryMessage;

/// PostgreSQL's interval in its binary form: microseconds, days, months.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PgInterval {
    months: i32,
    days: i32,
    micros: i64,
}

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }
    accepts!(INTERVAL);
    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        if raw.len() != 16 {
            return Err("interval is 16 bytes".into());
        }
        Ok(PgInterval {
            micros: i64::from_be_bytes(raw[0..8].try_into()?),
            days: i32::from_be_bytes(raw[8..12].try_into()?),
            months: i32::from_be_bytes(raw[12..16].try_into()?),
        })
    }
    accepts!(INTERVAL);
}

const TABLE: &str = "CREATE TABLE kinds (id int PRIMARY KEY, iv interval, ia int[], ta text[], \
    fa float8[], ba bool[], ua uuid[], la int8[], o oid, nm name, ch \"char\", n numeric, \
    ts timestamp, tz timestamptz, d date)";

async fn text_rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[tokio::test]
async fn new_types_take_binary_parameters_and_survive_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();

    let interval = PgInterval {
        months: 14,
        days: -3,
        micros: 4 * 3_600_000_000 + 500_000,
    };
    let u = uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    let texts: Vec<Option<&str>> = vec![Some("a b"), None, Some("say \"hi\""), Some("")];
    let infinity: Timestamp<chrono::NaiveDateTime> = Timestamp::PosInfinity;
    let minus_infinity: Timestamp<chrono::DateTime<chrono::Utc>> = Timestamp::NegInfinity;
    client
        .execute(
            "INSERT INTO kinds VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            &[
                &1i32,
                &interval,
                &vec![Some(1i32), None, Some(-3)],
                &texts,
                &vec![1.5f64, f64::NEG_INFINITY],
                &vec![true, false],
                &vec![u],
                &vec![9_000_000_000i64],
                &4_294_967_295u32,
                &"kimberlite",
                &(b'k' as i8),
                &rust_decimal::Decimal::new(-125, 1),
                &infinity,
                &minus_infinity,
                &NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
            ],
        )
        .await
        .unwrap();
    client
        .batch_execute(
            "INSERT INTO kinds (id, iv, ia, n, ts, d) VALUES \
             (2, '1.5 days', '{}', 'NaN', '0044-03-15 12:00:00 BC', '-infinity'), \
             (3, 'P1Y2M', '{7,8}', '-Infinity', 'epoch', '0001-01-01 BC')",
        )
        .await
        .unwrap();

    let expected_text = vec![
        vec![
            s("1"),
            s("1 year 2 mons -3 days +04:00:00.5"),
            s("{1,NULL,-3}"),
            s(r#"{"a b",NULL,"say \"hi\"",""}"#),
            s("{1.5,-Infinity}"),
            s("{t,f}"),
            s("{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"),
            s("{9000000000}"),
            s("4294967295"),
            s("kimberlite"),
            s("k"),
            s("-12.5"),
            s("infinity"),
            s("-infinity"),
            s("2024-02-29"),
        ],
        vec![
            s("2"),
            s("1 day 12:00:00"),
            s("{}"),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            s("NaN"),
            s("0044-03-15 12:00:00 BC"),
            None,
            s("-infinity"),
        ],
        vec![
            s("3"),
            s("1 year 2 mons"),
            s("{7,8}"),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            s("-Infinity"),
            s("1970-01-01 00:00:00"),
            None,
            s("0001-01-01 BC"),
        ],
    ];
    let query = "SELECT * FROM kinds ORDER BY id";
    assert_eq!(text_rows(&client, query).await, expected_text);

    // Binary results, read back by tokio-postgres's own decoders.
    let row = client
        .query_one("SELECT * FROM kinds WHERE id = $1", &[&1i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, PgInterval>(1), interval);
    assert_eq!(
        row.get::<_, Vec<Option<i32>>>(2),
        vec![Some(1), None, Some(-3)]
    );
    assert_eq!(
        row.get::<_, Vec<Option<String>>>(3),
        vec![s("a b"), None, s("say \"hi\""), s("")]
    );
    assert_eq!(row.get::<_, Vec<f64>>(4), vec![1.5, f64::NEG_INFINITY]);
    assert_eq!(row.get::<_, Vec<bool>>(5), vec![true, false]);
    assert_eq!(row.get::<_, Vec<uuid::Uuid>>(6), vec![u]);
    assert_eq!(row.get::<_, Vec<i64>>(7), vec![9_000_000_000]);
    assert_eq!(row.get::<_, u32>(8), 4_294_967_295);
    assert_eq!(row.get::<_, String>(9), "kimberlite");
    assert_eq!(row.get::<_, i8>(10), b'k' as i8);
    assert_eq!(
        row.get::<_, Timestamp<chrono::NaiveDateTime>>(12),
        Timestamp::PosInfinity
    );
    assert_eq!(
        row.get::<_, Timestamp<chrono::DateTime<chrono::Utc>>>(13),
        Timestamp::NegInfinity
    );

    // An array parameter filters with = ANY, as drivers send it.
    let ids: Vec<i32> = client
        .query(
            "SELECT id FROM kinds WHERE id = ANY($1) ORDER BY id",
            &[&vec![1i32, 3]],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![1, 3]);

    server.kill9();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    assert_eq!(text_rows(&client, query).await, expected_text);
}

#[tokio::test]
async fn bad_input_gets_postgresql_sqlstates_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    let nn = "CREATE TABLE bounded (id int PRIMARY KEY, amount numeric(10,2))";
    client.batch_execute(nn).await.unwrap();

    let cases = [
        (
            "INSERT INTO kinds (id, iv) VALUES (9, 'abc')",
            "22007",
            "invalid input syntax for type interval: \"abc\"",
            None,
        ),
        (
            "INSERT INTO kinds (id, iv) VALUES (9, '3000000000 days')",
            "22015",
            "interval field value out of range: \"3000000000 days\"",
            None,
        ),
        (
            "INSERT INTO kinds (id, ia) VALUES (9, '{1,')",
            "22P02",
            "malformed array literal: \"{1,\"",
            Some("Unexpected end of input."),
        ),
        (
            "INSERT INTO kinds (id, ia) VALUES (9, '1,2')",
            "22P02",
            "malformed array literal: \"1,2\"",
            Some("Array value must start with \"{\" or dimension information."),
        ),
        (
            "INSERT INTO kinds (id, ta) VALUES (9, '{a\"b}')",
            "22P02",
            "malformed array literal: \"{a\"b}\"",
            Some("Unexpected array element."),
        ),
        (
            "INSERT INTO kinds (id, ia) VALUES (9, '{x}')",
            "22P02",
            "invalid input syntax for type integer: \"x\"",
            None,
        ),
        (
            "INSERT INTO kinds (id, ia) VALUES (9, '{{1},{2}}')",
            "0A000",
            "multidimensional arrays are not supported",
            None,
        ),
        (
            "INSERT INTO kinds (id, d) VALUES (9, 'nope')",
            "22007",
            "invalid input syntax for type date: \"nope\"",
            None,
        ),
        (
            "INSERT INTO kinds (id, ts) VALUES (9, 'nope')",
            "22007",
            "invalid input syntax for type timestamp: \"nope\"",
            None,
        ),
        (
            "INSERT INTO bounded VALUES (1, 'Infinity')",
            "22003",
            "numeric field overflow",
            None,
        ),
        (
            "SELECT 2147483647 + 1",
            "22003",
            "integer out of range",
            None,
        ),
    ];
    for (sql, code, message, detail) in cases {
        let error = client.batch_execute(sql).await.unwrap_err();
        let db = error
            .as_db_error()
            .unwrap_or_else(|| panic!("{sql}: {error}"));
        assert_eq!(
            (db.code().code(), db.message(), db.detail()),
            (code, message, detail),
            "{sql}"
        );
    }
    // NaN fits a bounded numeric; nothing of the failed statements was kept.
    client
        .batch_execute("INSERT INTO bounded VALUES (2, 'NaN')")
        .await
        .unwrap();
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM kinds").await,
        vec![vec![s("0")]]
    );
    assert_eq!(
        text_rows(&client, "SELECT amount FROM bounded").await,
        vec![vec![s("NaN")]]
    );
    // Text parameters declared as text get the same input rules.
    let insert = client
        .prepare_typed(
            "INSERT INTO kinds (id, iv) VALUES ($1, $2)",
            &[Type::INT4, Type::TEXT],
        )
        .await
        .unwrap();
    assert_eq!(
        sqlstate(client.execute(&insert, &[&9i32, &"1 fortnight"]).await),
        "22007"
    );
    // DataFusion's ARRAY[…] is coerced into the column's element type.
    client
        .batch_execute("INSERT INTO kinds (id, la) VALUES (10, ARRAY[1, 2])")
        .await
        .unwrap();
    assert_eq!(
        text_rows(&client, "SELECT la FROM kinds WHERE id = 10").await,
        vec![vec![s("{1,2}")]]
    );
}

#[tokio::test]
async fn integer_literals_are_int4_unless_they_need_int8() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    let statement = client
        .prepare("SELECT 1, 3000000000, 1 + 1, ARRAY[1, 2], -5")
        .await
        .unwrap();
    let types: Vec<Type> = statement
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    assert_eq!(
        types,
        vec![
            Type::INT4,
            Type::INT8,
            Type::INT4,
            Type::INT4_ARRAY,
            Type::INT4
        ]
    );
    // Ordinals, limits and table-function arguments keep working.
    client
        .batch_execute("CREATE TABLE nums (id int8 PRIMARY KEY, grp int2)")
        .await
        .unwrap();
    client
        .batch_execute(
            "INSERT INTO nums SELECT value, value % 3 FROM generate_series(1, 30) AS value",
        )
        .await
        .unwrap();
    let rows = text_rows(
        &client,
        "SELECT grp, count(*) FROM nums WHERE id > 1 GROUP BY 1 ORDER BY 1 DESC LIMIT 2 OFFSET 1",
    )
    .await;
    assert_eq!(rows, vec![vec![s("1"), s("9")], vec![s("0"), s("10")]]);
    let window = text_rows(
        &client,
        "SELECT sum(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM nums ORDER BY id LIMIT 3",
    )
    .await;
    assert_eq!(window, vec![vec![s("1")], vec![s("3")], vec![s("5")]]);
    // A literal key still finds its row without a scan.
    client
        .batch_execute("SELECT * FROM nums WHERE id = 7")
        .await
        .unwrap();
    let scanned = text_rows(
        &client,
        "SELECT value FROM kimberlite_stats WHERE name = 'last_statement_rows_scanned'",
    )
    .await;
    assert_eq!(scanned, vec![vec![s("1")]]);
}

#[tokio::test]
async fn timestamptz_text_is_read_in_the_session_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    // Expected values are what PostgreSQL 15 printed for the same script.
    client
        .batch_execute(
            "SET TimeZone = 'Europe/Paris';
             CREATE TABLE zt (id int PRIMARY KEY, at timestamptz);
             INSERT INTO zt VALUES (1, '2024-01-15 12:00'), (2, '2024-07-15 12:00'),
               (3, '2024-01-15 12:00+00'), (4, '2024-03-31 02:30'), (5, '2024-01-16 00:30')",
        )
        .await
        .unwrap();
    let sink = client.copy_in("COPY zt FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    futures::SinkExt::send(
        &mut sink,
        bytes::Bytes::from_static(b"6\t2024-10-27 02:30\n"),
    )
    .await
    .unwrap();
    sink.finish().await.unwrap();
    let paris = text_rows(&client, "SELECT id, at FROM zt ORDER BY id").await;
    let at: Vec<Option<String>> = paris.iter().map(|r| r[1].clone()).collect();
    assert_eq!(
        at,
        vec![
            s("2024-01-15 12:00:00+01"),
            s("2024-07-15 12:00:00+02"),
            s("2024-01-15 13:00:00+01"),
            s("2024-03-31 03:30:00+02"),
            s("2024-01-16 00:30:00+01"),
            s("2024-10-27 02:30:00+01"),
        ]
    );
    // Literals in queries are read the same way; days are cut in the zone.
    assert_eq!(
        text_rows(&client, "SELECT id FROM zt WHERE at = '2024-01-15 12:00'").await,
        vec![vec![s("1")]]
    );
    assert_eq!(
        text_rows(&client, "SELECT date_trunc('day', at) FROM zt WHERE id = 5").await,
        vec![vec![s("2024-01-16 00:00:00+01")]]
    );
    assert_eq!(
        text_rows(
            &client,
            "SELECT 'infinity'::timestamp, '0044-03-15 BC'::date, '1 day 02:00'::interval, 'NaN'::numeric"
        )
        .await,
        vec![vec![
            s("infinity"),
            s("0044-03-15 BC"),
            s("1 day 02:00:00"),
            s("NaN")
        ]]
    );
    server.kill9();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    let utc = text_rows(&client, "SELECT at FROM zt ORDER BY id").await;
    assert_eq!(
        utc.into_iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
        vec![
            s("2024-01-15 11:00:00+00"),
            s("2024-07-15 10:00:00+00"),
            s("2024-01-15 12:00:00+00"),
            s("2024-03-31 01:30:00+00"),
            s("2024-01-15 23:30:00+00"),
            s("2024-10-27 01:30:00+00"),
        ]
    );
}
