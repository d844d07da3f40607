package dev.headroom.core;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.util.Objects;

/**
 * A JSON {@link Codec} backed by Jackson. Jackson ({@code jackson-databind}) is an optional
 * dependency of {@code headroom-core}: add it to use this class.
 *
 * <p>Thread-safe (Jackson's readers and writers are). Malformed JSON, or JSON that does not bind to
 * the target type, throws {@link CodecException} naming {@code json:<type>}.
 *
 * @param <T> the value type
 */
public final class JsonCodec<T> implements Codec<T> {

    private final ObjectReader reader;
    private final ObjectWriter writer;
    private final String name;

    private JsonCodec(ObjectMapper mapper, JavaType type) {
        this.reader = mapper.readerFor(type);
        this.writer = mapper.writerFor(type);
        this.name = "json:" + type.getRawClass().getSimpleName();
    }

    /**
     * Returns a codec for {@code type} using a default {@link JsonMapper}.
     *
     * @param type the value class
     * @param <T> the value type
     * @return the codec
     */
    public static <T> JsonCodec<T> of(Class<T> type) {
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

    @Override
    public byte[] encode(T value) {
        Objects.requireNonNull(value, "value");
        try {
            return writer.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new CodecException(name, "cannot write " + value.getClass().getName() + " as JSON", e);
        }
    }

    @Override
    public T decode(byte[] bytes) {
        Objects.requireNonNull(bytes, "bytes");
        try {
            T value = reader.readValue(bytes);
            if (value == null) {
                throw new CodecException(name, "JSON null is not a value");
            }
            return value;
        } catch (IOException e) {
            throw new CodecException(name, "malformed JSON in " + bytes.length + " bytes", e);
        }
    }

    @Override
    public String name() {
        return name;
    }
}
