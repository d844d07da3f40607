package dev.headroom.core;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.CharArrayReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * A JSON {@link Codec} backed by Jackson. Jackson ({@code jackson-databind}) is an optional
 * dependency of {@code headroom-core}: add it to use this class.
 *
 * <p>Strict: {@link #decode} accepts exactly one JSON value in UTF-8, optionally surrounded by
 * whitespace. Malformed UTF-8 (including overlong forms, which Jackson alone would decode), other
 * encodings, malformed JSON, JSON that does not bind to the target type, a top-level JSON {@code
 * null}, and any token after the value ({@code {"name":"x"} trailing}, or a second value as in
 * {@code {...}{...}}) throw {@link CodecException} naming {@code json:<type>}, even when the caller's
 * mapper is configured to allow trailing tokens: a cache or queue must never take half of a corrupt
 * or concatenated payload for a value. So do a custom deserializer's own exceptions and a payload
 * nested too deeply for the stack. Everything else follows the mapper's configuration: comments or
 * single quotes it allows are allowed, nested {@code null}s and Jackson's scalar coercions ({@code
 * "12"} to {@code 12}) bind as it says.
 *
 * <p>Generic types ({@code List<Product>}) are built from a Jackson {@link TypeReference} or {@link
 * JavaType}, so the elements bind to their real type rather than to maps:
 *
 * <pre>{@code
 * JsonCodec<List<Product>> codec = JsonCodec.of(new TypeReference<List<Product>>() {});
 * }</pre>
 *
 * <p>Thread-safe (Jackson's readers and writers are).
 *
 * @param <T> the value type
 */
public final class JsonCodec<T> implements Codec<T> {

    private final ObjectReader reader;
    private final ObjectWriter writer;
    private final String name;

    private JsonCodec(ObjectMapper mapper, JavaType type) {
        this.reader = mapper.readerFor(type).with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        this.writer = mapper.writerFor(type);
        this.name = "json:" + simpleName(type);
    }

    /** {@code List<Order>} for {@code java.util.List<dev.example.Order>}: short, and no user data. */
    private static String simpleName(JavaType type) {
        if (type.isArrayType()) {
            return simpleName(type.getContentType()) + "[]";
        }
        Class<?> raw = type.getRawClass();
        StringBuilder name = new StringBuilder(raw.getSimpleName().isEmpty() ? raw.getName() : raw.getSimpleName());
        int parameters = type.containedTypeCount();
        if (parameters > 0) {
            name.append('<');
            for (int i = 0; i < parameters; i++) {
                JavaType parameter = type.containedType(i);
                name.append(i == 0 ? "" : ",").append(parameter == null ? "?" : simpleName(parameter));
            }
            name.append('>');
        }
        return name.toString();
    }

    /**
     * Returns a codec for {@code type} using a default {@link JsonMapper}.
     *
     * @param type the value class
     * @param <T> the value type
     * @return the codec
     * @throws NullPointerException if {@code type} is null
     */
    public static <T> JsonCodec<T> of(Class<T> type) {
        Objects.requireNonNull(type, "type");
        return of(JsonMapper.builder().findAndAddModules().build(), type);
    }

    /**
     * Returns a codec for {@code type} using the caller's configured mapper.
     *
     * @param mapper the mapper; not modified
     * @param type the value class
     * @param <T> the value type
     * @return the codec
     */
    public static <T> JsonCodec<T> of(ObjectMapper mapper, Class<T> type) {
        Objects.requireNonNull(mapper, "mapper");
        Objects.requireNonNull(type, "type");
        return new JsonCodec<>(mapper, mapper.constructType(type));
    }

    /**
     * Returns a codec for a generic type, using a default {@link JsonMapper}.
     *
     * @param type the type, captured by an anonymous subclass: {@code new TypeReference<List<Product>>()
     *     {}}
     * @param <T> the value type
     * @return the codec
     * @throws NullPointerException if {@code type} is null
     */
    public static <T> JsonCodec<T> of(TypeReference<T> type) {
        Objects.requireNonNull(type, "type");
        return of(JsonMapper.builder().findAndAddModules().build(), type);
    }

    /**
     * Returns a codec for a generic type using the caller's configured mapper.
     *
     * @param mapper the mapper; not modified
     * @param type the type, captured by an anonymous subclass
     * @param <T> the value type
     * @return the codec
     * @throws NullPointerException if an argument is null
     */
    public static <T> JsonCodec<T> of(ObjectMapper mapper, TypeReference<T> type) {
        Objects.requireNonNull(mapper, "mapper");
        Objects.requireNonNull(type, "type");
        return new JsonCodec<>(mapper, mapper.constructType(type));
    }

    /**
     * Returns a codec for a type built with the mapper's {@code TypeFactory}. The caller chooses
     * {@code T}; it must match {@code type}, as with Jackson's own {@code readValue(..., JavaType)}.
     *
     * @param mapper the mapper; not modified
     * @param type the type
     * @param <T> the value type
     * @return the codec
     * @throws NullPointerException if an argument is null
     */
    public static <T> JsonCodec<T> of(ObjectMapper mapper, JavaType type) {
        Objects.requireNonNull(mapper, "mapper");
        Objects.requireNonNull(type, "type");
        return new JsonCodec<>(mapper, type);
    }

    @Override
    public byte[] encode(T value) {
        Objects.requireNonNull(value, "value");
        try {
            return writer.writeValueAsBytes(value);
        } catch (JsonProcessingException | RuntimeException e) {
            throw new CodecException(name, "cannot write " + value.getClass().getName() + " as JSON", e);
        }
    }

    @Override
    @SuppressWarnings("NullAway") // readValue's result is checked for null right below
    public T decode(byte[] bytes) {
        Objects.requireNonNull(bytes, "bytes");
        CharBuffer chars;
        try {
            // Strict UTF-8 first: Jackson's own decoder maps overlong forms and values above U+10FFFF
            // to characters, and it detects UTF-16/32 by itself; a codec must refuse all of those.
            chars = StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes));
        } catch (CharacterCodingException e) {
            throw new CodecException(name, "malformed UTF-8 in " + bytes.length + " bytes", e);
        }
        T value;
        try {
            value = reader.readValue(new CharArrayReader(chars.array(), chars.position(), chars.remaining()));
        } catch (IOException e) {
            throw new CodecException(name, "malformed JSON, or more than one value, in " + bytes.length + " bytes", e);
        } catch (RuntimeException e) { // a custom deserializer's own failure
            throw new CodecException(name, "JSON does not bind: " + e, e);
        } catch (StackOverflowError e) {
            // Binding recurses per nesting level: a deeply nested payload can exhaust the stack within
            // Jackson's depth limit. The stack has unwound by now; the payload is what is bad.
            throw new CodecException(name, "JSON nested too deeply to bind (" + bytes.length + " bytes)", e);
        }
        if (value == null) {
            throw new CodecException(name, "JSON null is not a value");
        }
        return value;
    }

    @Override
    public String name() {
        return name;
    }
}
