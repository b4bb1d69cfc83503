// pgjdbc (Debian's libpostgresql-jdbc-java) against the real kimberlite
// binary. Run by server/tests/jdbc.rs as a single-file Java program:
//   java -cp /usr/share/java/postgresql.jar JdbcTest.java <jdbc url>
// Exits non-zero with a message on the first failed check.
import java.math.BigDecimal;
import java.sql.*;

public class JdbcTest {
    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0])) {
            check(conn.isValid(5), "isValid");
            conn.setAutoCommit(false);
            try (Statement st = conn.createStatement()) {
                st.execute("CREATE TABLE jd (id int PRIMARY KEY, name varchar(40) NOT NULL, "
                        + "price numeric(10,2), at timestamptz, ok boolean, big bigint, ratio float8)");
            }
            conn.commit();

            // More than prepareThreshold (5) executions: the driver switches
            // to a named server-side statement and binary parameters.
            Timestamp at = Timestamp.valueOf("2024-02-29 13:14:15.123456");
            try (PreparedStatement ps = conn.prepareStatement(
                    "INSERT INTO jd VALUES (?, ?, ?, ?, ?, ?, ?)")) {
                for (int i = 0; i < 12; i++) {
                    ps.setInt(1, i);
                    ps.setString(2, "name " + i);
                    ps.setBigDecimal(3, new BigDecimal("12.50"));
                    ps.setTimestamp(4, at);
                    ps.setBoolean(5, i % 2 == 0);
                    ps.setLong(6, 9_000_000_000L + i);
                    ps.setDouble(7, i / 4.0);
                    check(ps.executeUpdate() == 1, "insert " + i);
                }
            }
            conn.commit();
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT id, name, price, at, ok, big, ratio FROM jd WHERE id = ?")) {
                for (int i = 0; i < 12; i++) {
                    ps.setInt(1, i);
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "row " + i);
                        check(rs.getInt(1) == i, "id");
                        check(rs.getString(2).equals("name " + i), "name");
                        check(rs.getBigDecimal(3).equals(new BigDecimal("12.50")), "price " + rs.getBigDecimal(3));
                        check(rs.getTimestamp(4).equals(at), "at " + rs.getTimestamp(4));
                        check(rs.getBoolean(5) == (i % 2 == 0), "ok");
                        check(rs.getLong(6) == 9_000_000_000L + i, "big");
                        check(rs.getDouble(7) == i / 4.0, "ratio");
                        check(!rs.next(), "one row");
                    }
                }
            }

            // Rollback discards, commit keeps.
            try (Statement st = conn.createStatement()) {
                st.executeUpdate("DELETE FROM jd WHERE id < 6");
                conn.rollback();
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM jd")) {
                    rs.next();
                    check(rs.getLong(1) == 12, "rollback kept every row");
                }
                st.executeUpdate("DELETE FROM jd WHERE id >= 10");
                conn.commit();
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM jd")) {
                    rs.next();
                    check(rs.getLong(1) == 10, "commit deleted two rows");
                }
                conn.commit();
            }

            // Errors carry the SQLSTATE; the connection recovers by rollback.
            try (Statement st = conn.createStatement()) {
                try {
                    st.executeUpdate("INSERT INTO jd (id, name) VALUES (1, 'dup')");
                    check(false, "duplicate accepted");
                } catch (SQLException e) {
                    check("23505".equals(e.getSQLState()), "23505, got " + e.getSQLState());
                }
                try {
                    st.executeQuery("SELECT 1");
                    check(false, "aborted transaction accepted a query");
                } catch (SQLException e) {
                    check("25P02".equals(e.getSQLState()), "25P02, got " + e.getSQLState());
                }
                conn.rollback();
                try (ResultSet rs = st.executeQuery("SELECT name FROM jd WHERE id = 1")) {
                    check(rs.next() && rs.getString(1).equals("name 1"), "usable after rollback");
                }
            }
            check(conn.isValid(5), "isValid at the end");
        }
        System.out.println("jdbc: all checks passed");
    }
}
