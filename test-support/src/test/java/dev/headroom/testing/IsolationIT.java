package dev.headroom.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Each test gets its own schema and key prefix, and the harness removes them afterwards. */
@ExtendWith(HeadroomServices.class)
class IsolationIT {

    @Test
    void everyTestGetsItsOwnSchemaAndItIsDroppedAfterwards(TestDatabase db) throws Exception {
        TestDatabase other = new TestDatabase(db.primary());
        assertThat(other.schema()).isNotEqualTo(db.schema());
        db.execute("CREATE TABLE t (v text)", "INSERT INTO t VALUES ('mine')");
        other.execute("CREATE TABLE t (v text)");
        try (Connection c = other.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM t")) {
            rs.next();
            assertThat(rs.getInt(1)).isZero();
        }
        other.close();
        try (Connection c = db.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM information_schema.schemata WHERE schema_name = '"
                        + other.schema() + "'")) {
            rs.next();
            assertThat(rs.getInt(1)).isZero();
        }
    }

    @Test
    void createdDatabasesAreRealAndDroppedAfterwards(TestDatabase db) throws SQLException {
        String url = db.createDatabase();
        String name = url.substring(url.lastIndexOf('/') + 1);
        try (Connection c = PostgresEndpoint.connect(url);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT current_database()")) {
            rs.next();
            assertThat(rs.getString(1)).isEqualTo(name);
        }
        db.close();
        try (Connection c = db.primary().connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_database WHERE datname = '" + name + "'")) {
            rs.next();
            assertThat(rs.getInt(1)).isZero();
        }
    }

    @Test
    void redisKeysUnderTheTestPrefixAreDeletedAfterwards(TestRedis redis) {
        TestRedis other = new TestRedis(redis.endpoint());
        assertThat(other.keyPrefix()).isNotEqualTo(redis.keyPrefix()).startsWith("hr:t:");
        RedisClient client = redis.newClient();
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            for (int i = 0; i < 1_200; i++) { // more than one SCAN page
                c.sync().set(other.key("k" + i), "v");
            }
            c.sync().set(redis.key("survivor"), "v");
            other.close();
            assertThat(c.sync().keys(other.keyPrefix() + "*")).isEmpty();
            assertThat(c.sync().get(redis.key("survivor"))).isEqualTo("v");
        } finally {
            client.shutdown();
        }
    }
}
