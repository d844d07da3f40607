package dev.headroom.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ConsistencyTokenTest {

    @Test
    void roundTripsThroughItsStringForm() {
        ConsistencyToken token = ConsistencyToken.parse("pg:16/B374D848");
        assertThat(ConsistencyToken.parse(token.toString())).isEqualTo(token);
    }

    @Test
    void rejectsValuesThatCannotTravelInAHeaderOrCookie() {
        assertThatThrownBy(() -> ConsistencyToken.parse("")).hasMessageContaining("1 to 256");
        assertThatThrownBy(() -> ConsistencyToken.parse("a".repeat(257))).hasMessageContaining("1 to 256");
        assertThatThrownBy(() -> ConsistencyToken.parse("pg:0/1; Path=/"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("index 6");
        assertThatThrownBy(() -> ConsistencyToken.parse("a\r\nSet-Cookie: x"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ConsistencyToken.parse(null)).hasMessageContaining("value");
    }
}
