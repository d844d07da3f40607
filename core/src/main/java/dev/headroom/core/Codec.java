package dev.headroom.core;

/**
 * Turns values into bytes and back, for stores that hold bytes (Redis, a job payload column).
 *
 * <p>Implementations must be thread-safe and must round-trip: {@code decode(encode(v))} equals
 * {@code v}. Bytes that are not a valid encoding make {@link #decode(byte[])} throw {@link
 * CodecException} naming the codec — never return a corrupted value, never throw anything else.
 *
 * @param <T> the value type
 */
public interface Codec<T> {

    /**
     * Encodes a value.
     *
     * @param value the value, never null
     * @return its bytes; callers must not modify them
     * @throws CodecException if the value cannot be encoded
     */
    byte[] encode(T value);

    /**
     * Decodes bytes produced by {@link #encode(Object)}.
     *
     * @param bytes the encoded form, never null
     * @return the value
     * @throws CodecException if {@code bytes} is not a valid encoding
     */
    T decode(byte[] bytes);

    /**
     * Returns a short name for messages and metric tags, such as {@code "utf8"}.
     *
     * @return the name
     */
    String name();

    /**
     * Returns the strict UTF-8 string codec: unpaired surrogates on encode and malformed sequences on
     * decode throw {@link CodecException} rather than being replaced with {@code U+FFFD}.
     *
     * @return the codec, a singleton
     */
    static Codec<String> utf8() {
        return Utf8Codec.INSTANCE;
    }

    /**
     * Returns the identity codec for byte arrays. Arrays are not copied: neither side may modify an
     * array after handing it over.
     *
     * @return the codec, a singleton
     */
    static Codec<byte[]> byteArray() {
        return ByteArrayCodec.INSTANCE;
    }
}
