package dev.headroom.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CodecTest {

    record Order(long id, String item, int quantity) {}

    @Test
    void utf8RoundTripsEveryPlane() {
        String s = "héllo wörld ✓ 𝄞 日本語 🚀";
        byte[] bytes = Codec.utf8().encode(s);
        assertThat(bytes).isEqualTo(s.getBytes(StandardCharsets.UTF_8));
        assertThat(Codec.utf8().decode(bytes)).isEqualTo(s);
        assertThat(Codec.utf8().decode(new byte[0])).isEmpty();
    }

    @Test
    void utf8RejectsMalformedBytesNamingTheCodec() {
        byte[] truncated = {(byte) 0xE2, (byte) 0x9C}; // first two bytes of a three-byte sequence
        assertThatThrownBy(() -> Codec.utf8().decode(truncated))
                .isInstanceOf(CodecException.class)
                .hasMessageContaining("utf8")
                .hasMessageContaining("malformed")
                .satisfies(e -> assertThat(((CodecException) e).codec()).isEqualTo("utf8"));
        byte[] overlong = {(byte) 0xC0, (byte) 0xAF};
        assertThatThrownBy(() -> Codec.utf8().decode(overlong)).isInstanceOf(CodecException.class);
    }

    @Test
    void utf8RefusesToEncodeAnUnpairedSurrogate() {
        assertThatThrownBy(() -> Codec.utf8().encode("bad \uD800 surrogate"))
                .isInstanceOf(CodecException.class)
                .hasMessageContaining("utf8");
    }

    @Test
    void byteArrayIsTheIdentity() {
        byte[] bytes = {1, 2, 3};
        assertThat(Codec.byteArray().encode(bytes)).isSameAs(bytes);
        assertThat(Codec.byteArray().decode(bytes)).isSameAs(bytes);
        assertThat(Codec.byteArray().name()).isEqualTo("bytes");
    }

    @Test
    void jsonRoundTripsARecord() {
        JsonCodec<Order> codec = JsonCodec.of(Order.class);
        Order order = new Order(7, "widget", 3);
        byte[] bytes = codec.encode(order);
        assertThat(new String(bytes, StandardCharsets.UTF_8)).contains("\"item\":\"widget\"");
        assertThat(codec.decode(bytes)).isEqualTo(order);
    }

    @Test
    void jsonRejectsMalformedOrMismatchedInputNamingTheCodec() {
        JsonCodec<Order> codec = JsonCodec.of(Order.class);
        assertThatThrownBy(() -> codec.decode("{\"id\": 7, \"item\": ".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CodecException.class)
                .hasMessageContaining("json:Order");
        assertThatThrownBy(() -> codec.decode("[1,2,3]".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CodecException.class)
                .hasMessageContaining("json:Order");
        assertThatThrownBy(() -> codec.decode("null".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CodecException.class)
                .hasMessageContaining("null");
    }

    @Test
    void nullsAreRejectedNamingTheParameter() {
        assertThatThrownBy(() -> Codec.utf8().encode(null)).hasMessageContaining("value");
        assertThatThrownBy(() -> Codec.utf8().decode(null)).hasMessageContaining("bytes");
        assertThatThrownBy(() -> JsonCodec.of(null)).hasMessageContaining("type");
    }
}
