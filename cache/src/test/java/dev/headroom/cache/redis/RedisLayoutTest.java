package dev.headroom.cache.redis;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.cache.RemoteValue;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The one-string layout {@code <version>|v<value>} / {@code <version>|-}, parsed without Redis. */
class RedisLayoutTest {

    private static RemoteValue parse(String raw) {
        return RedisRemoteStore.parse(raw.getBytes(StandardCharsets.ISO_8859_1));
    }

    @Test
    void valuesTombstonesAndForeignStrings() {
        RemoteValue v = parse("42|vhello|world");
        assertThat(new String(v.value(), StandardCharsets.UTF_8)).isEqualTo("hello|world");
        assertThat(v.version()).isEqualTo(42);
        assertThat(parse("3|v").value()).isEmpty();

        assertThat(parse("7|-").value()).isNull();
        assertThat(parse("7|-").version()).isEqualTo(7);

        RemoteValue stamped = parse("1700000000000123:1700000000000456@1700000000789|vx");
        assertThat(stamped.version()).isEqualTo(1700000000000123L);
        assertThat(stamped.generation()).isEqualTo(1700000000000456L);
        assertThat(stamped.writtenAtMillis()).isEqualTo(1700000000789L);
        assertThat(new String(stamped.value(), StandardCharsets.UTF_8)).isEqualTo("x");
        assertThat(parse("9@42|-").value()).isNull();
        assertThat(parse("9@|vx").version())
                .as("an empty write time is foreign")
                .isEqualTo(-1);
        assertThat(RedisRemoteStore.parse(null)).isEqualTo(RemoteValue.ABSENT);
        for (String foreign : new String[] {"plain", "|vx", "5|", "5|x", "7|-x", "12345678901234567890|vx", "-1|vx"}) {
            assertThat(parse(foreign).value()).as(foreign).isNull();
            assertThat(parse(foreign).version()).as(foreign).isEqualTo(-1);
        }
    }
}
