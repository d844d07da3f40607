package dev.headroom.core;

import java.util.Objects;

/** Identity codec; see {@link Codec#byteArray()}. */
final class ByteArrayCodec implements Codec<byte[]> {
    static final ByteArrayCodec INSTANCE = new ByteArrayCodec();

    private ByteArrayCodec() {}

    @Override
    public byte[] encode(byte[] value) {
        return Objects.requireNonNull(value, "value");
    }

    @Override
    public byte[] decode(byte[] bytes) {
        return Objects.requireNonNull(bytes, "bytes");
    }

    @Override
    public String name() {
        return "bytes";
    }
}
