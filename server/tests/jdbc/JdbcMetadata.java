// pgjdbc's DatabaseMetaData and ResultSet.getObject against a running
// Kimberlite (run by server/tests/jdbc.rs as a single-file program). Exits non-zero on the first
// check that fails, printing what it saw.

import java.sql.*;
import java.util.*;

public class JdbcMetadata {
    static void check(boolean ok, String what) {
        if (!ok) {
            System.err.println("FAILED: " + what);
            System.exit(1);
        }
    }

    static List<String> column(ResultSet rs, String name) throws SQLException {
        List<String> out = new ArrayList<>();
        while (rs.next()) out.add(rs.getString(name));
        rs.close();
        return out;
    }

    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0])) {
            try (Statement st = conn.createStatement()) {
                st.execute("CREATE TABLE j_author (id serial PRIMARY KEY, name varchar(40) NOT NULL UNIQUE)");
                st.execute("CREATE TABLE j_book (id bigint PRIMARY KEY, author_id int REFERENCES j_author (id), "
                    + "title text, price numeric(8,2), ok boolean, at timestamptz, day date, tags text[])");
                st.execute("CREATE INDEX j_book_title_idx ON j_book (title)");
                st.execute("INSERT INTO j_author (name) VALUES ('ann')");
                st.execute("INSERT INTO j_book VALUES (7, 1, 'one', 9.50, true, "
                    + "'2024-02-29T13:14:15Z', '2024-02-29', '{a,b}')");
            }
            DatabaseMetaData md = conn.getMetaData();
            check(md.getDatabaseProductName().equals("PostgreSQL"), "product name");

            List<String> tables = column(md.getTables(null, "public", "j_%", new String[] {"TABLE"}), "TABLE_NAME");
            check(tables.equals(List.of("j_author", "j_book")), "getTables: " + tables);

            ResultSet cols = md.getColumns(null, "public", "j_book", null);
            List<String> seen = new ArrayList<>();
            while (cols.next()) {
                seen.add(cols.getString("COLUMN_NAME") + ":" + cols.getString("TYPE_NAME") + ":"
                    + cols.getInt("DATA_TYPE") + ":" + cols.getString("IS_NULLABLE"));
            }
            cols.close();
            check(seen.equals(List.of(
                "id:int8:" + Types.BIGINT + ":NO",
                "author_id:int4:" + Types.INTEGER + ":YES",
                "title:text:" + Types.VARCHAR + ":YES",
                "price:numeric:" + Types.NUMERIC + ":YES",
                "ok:bool:" + Types.BIT + ":YES",
                "at:timestamptz:" + Types.TIMESTAMP + ":YES",
                "day:date:" + Types.DATE + ":YES",
                "tags:_text:" + Types.ARRAY + ":YES")), "getColumns: " + seen);

            List<String> pk = column(md.getPrimaryKeys(null, "public", "j_book"), "COLUMN_NAME");
            check(pk.equals(List.of("id")), "getPrimaryKeys: " + pk);

            ResultSet fks = md.getImportedKeys(null, "public", "j_book");
            check(fks.next(), "getImportedKeys: one row");
            check(fks.getString("PKTABLE_NAME").equals("j_author")
                && fks.getString("PKCOLUMN_NAME").equals("id")
                && fks.getString("FKCOLUMN_NAME").equals("author_id"), "getImportedKeys columns");
            fks.close();

            ResultSet idx = md.getIndexInfo(null, "public", "j_book", false, false);
            List<String> indexes = new ArrayList<>();
            while (idx.next()) {
                if (idx.getString("INDEX_NAME") != null) {
                    indexes.add(idx.getString("INDEX_NAME") + ":" + idx.getString("COLUMN_NAME") + ":"
                        + idx.getBoolean("NON_UNIQUE"));
                }
            }
            idx.close();
            Collections.sort(indexes);
            check(indexes.equals(List.of("j_book_pkey:id:false", "j_book_title_idx:title:true")),
                "getIndexInfo: " + indexes);

            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT id, author_id, title, price, ok, at, day, tags FROM j_book")) {
                check(rs.next(), "a row");
                check(rs.getObject(1) instanceof Long && rs.getLong(1) == 7, "bigint");
                check(rs.getObject(2) instanceof Integer, "integer");
                check("one".equals(rs.getObject(3)), "text");
                check(rs.getObject(4) instanceof java.math.BigDecimal
                    && rs.getBigDecimal(4).compareTo(new java.math.BigDecimal("9.50")) == 0, "numeric");
                check(Boolean.TRUE.equals(rs.getObject(5)), "boolean");
                check(rs.getObject(6) instanceof java.sql.Timestamp, "timestamptz");
                check(rs.getObject(7) instanceof java.sql.Date
                    && rs.getDate(7).toString().equals("2024-02-29"), "date");
                Object[] tags = (Object[]) rs.getArray(8).getArray();
                check(Arrays.equals(tags, new Object[] {"a", "b"}), "text[]");
            }
            try (PreparedStatement ps = conn.prepareStatement("SELECT name FROM j_author WHERE id = ?")) {
                ps.setInt(1, 1);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next() && rs.getString(1).equals("ann"), "prepared lookup");
                }
            }
        }
        System.out.println("jdbc metadata ok");
    }
}
