package dev.headroom.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
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
    void jsonRejectsTrailingTokensAfterTheValue() {
        JsonCodec<Order> codec = JsonCodec.of(Order.class);
        for (String input : List.of(
                "{\"id\":7,\"item\":\"w\",\"quantity\":1} trailing",
                "{\"id\":7,\"item\":\"w\",\"quantity\":1}{\"id\":8,\"item\":\"x\",\"quantity\":2}",
                "{\"id\":7,\"item\":\"w\",\"quantity\":1}]",
                "{\"id\":7,\"item\":\"w\",\"quantity\":1} 42")) {
            assertThatThrownBy(() -> codec.decode(input.getBytes(StandardCharsets.UTF_8)))
                    .as(input)
                    .isInstanceOf(CodecException.class)
                    .hasMessageContaining("json:Order");
        }
        // whitespace after the value is not a token
        assertThat(codec.decode("{\"id\":7,\"item\":\"w\",\"quantity\":1}\n\t ".getBytes(StandardCharsets.UTF_8)))
                .isEqualTo(new Order(7, "w", 1));
    }

    @Test
    void jsonStaysStrictWithTheCallersMapperEvenIfItAllowsTrailingTokens() {
        JsonMapper lenient = JsonMapper.builder()
                .disable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .build();
        JsonCodec<Order> codec = JsonCodec.of(lenient, Order.class);
        assertThatThrownBy(() ->
                        codec.decode("{\"id\":7,\"item\":\"w\",\"quantity\":1} x".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CodecException.class);
    }

    @Test
    void jsonRoundTripsGenericTypesFromATypeReference() {
        JsonCodec<List<Order>> codec = JsonCodec.of(new TypeReference<List<Order>>() {});
        List<Order> orders = List.of(new Order(1, "a", 1), new Order(2, "b", 2));
        List<Order> decoded = codec.decode(codec.encode(orders));
        assertThat(decoded).isEqualTo(orders);
        assertThat(decoded.get(0)).isInstanceOf(Order.class); // bound to Order, not a LinkedHashMap
        assertThat(codec.name()).isEqualTo("json:List<Order>");

        JsonCodec<Map<String, List<Order>>> nested = JsonCodec.of(new TypeReference<Map<String, List<Order>>>() {});
        Map<String, List<Order>> byCustomer = Map.of("c1", orders);
        assertThat(nested.decode(nested.encode(byCustomer))).isEqualTo(byCustomer);
        assertThat(nested.name()).isEqualTo("json:Map<String,List<Order>>");
        assertThatThrownBy(() -> codec.decode("[{\"id\":1}] []".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CodecException.class)
                .hasMessageContaining("json:List<Order>");
        assertThatThrownBy(() -> codec.decode("{\"id\":1}".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CodecException.class);
    }

    @Test
    void jsonBuildsFromAJavaType() {
        JsonMapper mapper = JsonMapper.builder().build();
        JsonCodec<List<Order>> codec =
                JsonCodec.of(mapper, mapper.getTypeFactory().constructCollectionType(List.class, Order.class));
        List<Order> orders = List.of(new Order(3, "c", 3));
        assertThat(codec.decode(codec.encode(orders))).isEqualTo(orders);
        assertThat(codec.name()).isEqualTo("json:List<Order>");
    }

    record Node(@org.jspecify.annotations.Nullable Node next) {}

    @Test
    void jsonTooDeepForTheStackFailsAsACodecExceptionNotAStackOverflowError() throws Exception {
        JsonCodec<Node> codec = JsonCodec.of(Node.class);
        byte[] deep = ("{\"next\":".repeat(999) + "null" + "}".repeat(999)).getBytes(StandardCharsets.UTF_8);
        // a small stack makes the recursion overflow within Jackson's default depth limit (1,000)
        java.util.concurrent.atomic.AtomicReference<Throwable> thrown =
                new java.util.concurrent.atomic.AtomicReference<>();
        Thread t = new Thread(
                null,
                () -> {
                    try {
                        codec.decode(deep);
                    } catch (Throwable e) {
                        thrown.set(e);
                    }
                },
                "small-stack",
                128 * 1024);
        t.start();
        t.join();
        assertThat(thrown.get()).isInstanceOf(CodecException.class).hasMessageContaining("json:Node");
    }

    static final class Amount {
        final java.math.BigDecimal value;

        Amount(java.math.BigDecimal value) {
            this.value = value;
        }
    }

    static final class AmountDeserializer extends com.fasterxml.jackson.databind.JsonDeserializer<Amount> {
        @Override
        public Amount deserialize(
                com.fasterxml.jackson.core.JsonParser p, com.fasterxml.jackson.databind.DeserializationContext c)
                throws java.io.IOException {
            return new Amount(new java.math.BigDecimal(p.getValueAsString())); // NumberFormatException on "abc"
        }
    }

    @Test
    void aRuntimeExceptionFromACustomDeserializerIsACodecException() {
        JsonMapper mapper = JsonMapper.builder()
                .addModule(new com.fasterxml.jackson.databind.module.SimpleModule()
                        .addDeserializer(Amount.class, new AmountDeserializer()))
                .build();
        JsonCodec<Amount> codec = JsonCodec.of(mapper, Amount.class);
        assertThat(codec.decode("\"12.50\"".getBytes(StandardCharsets.UTF_8)).value)
                .isEqualByComparingTo("12.50");
        assertThatThrownBy(() -> codec.decode("\"abc\"".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CodecException.class)
                .hasMessageContaining("json:Amount")
                .hasCauseInstanceOf(NumberFormatException.class);
    }

    record Named(String name) {}

    @Test
    void jsonRejectsMalformedUtf8AndOtherEncodingsThatJacksonWouldAccept() {
        JsonCodec<Named> codec = JsonCodec.of(Named.class);
        byte[] prefix = "{\"name\":\"".getBytes(StandardCharsets.US_ASCII);
        byte[] suffix = "\"}".getBytes(StandardCharsets.US_ASCII);
        byte[][] malformed = {
            {(byte) 0xC0, (byte) 0xA2}, // overlong '"'
            {(byte) 0xE0, (byte) 0x80, (byte) 0xAF}, // overlong '/'
            {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, // above U+10FFFF
            {(byte) 0xF5, (byte) 0x80, (byte) 0x80, (byte) 0x80},
        };
        for (byte[] bad : malformed) {
            byte[] input = new byte[prefix.length + bad.length + suffix.length];
            System.arraycopy(prefix, 0, input, 0, prefix.length);
            System.arraycopy(bad, 0, input, prefix.length, bad.length);
            System.arraycopy(suffix, 0, input, prefix.length + bad.length, suffix.length);
            assertThatThrownBy(() -> codec.decode(input))
                    .as("%s", java.util.HexFormat.of().formatHex(bad))
                    .isInstanceOf(CodecException.class)
                    .hasMessageContaining("json:Named");
        }
        // JSON is UTF-8 here: the UTF-16 and UTF-32 that Jackson detects by itself are refused
        for (java.nio.charset.Charset other :
                List.of(StandardCharsets.UTF_16LE, StandardCharsets.UTF_16BE, StandardCharsets.UTF_16)) {
            assertThatThrownBy(() -> codec.decode("{\"name\":\"x\"}".getBytes(other)))
                    .as(other.name())
                    .isInstanceOf(CodecException.class);
        }
        assertThat(codec.decode("{\"name\":\"h\u00e9llo \ud83d\ude80\"}".getBytes(StandardCharsets.UTF_8)))
                .isEqualTo(new Named("h\u00e9llo \ud83d\ude80"));
    }

    @Test
    void anAnonymousTypeStillGetsACodecName() {
        Object anonymous = new Object() {};
        assertThat(JsonCodec.of(anonymous.getClass()).name())
                .startsWith("json:")
                .isNotEqualTo("json:");
    }

    @Test
    void nullsAreRejectedNamingTheParameter() {
        assertThatThrownBy(() -> Codec.utf8().encode(null)).hasMessageContaining("value");
        assertThatThrownBy(() -> Codec.utf8().decode(null)).hasMessageContaining("bytes");
        assertThatThrownBy(() -> JsonCodec.of((Class<Object>) null)).hasMessageContaining("type");
        assertThatThrownBy(() -> JsonCodec.of((TypeReference<Object>) null)).hasMessageContaining("type");
        assertThatThrownBy(() ->
                        JsonCodec.of(JsonMapper.builder().build(), (com.fasterxml.jackson.databind.JavaType) null))
                .hasMessageContaining("type");
    }
}
