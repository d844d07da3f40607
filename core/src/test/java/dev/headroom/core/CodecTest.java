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
