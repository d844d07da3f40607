package dev.headroom.core;

import java.util.Objects;

/**
 * An opaque position in a primary's history — for PostgreSQL, a WAL LSN — that a later read must
 * observe: the carrier of read-your-writes across requests and application instances.
 *
 * <p>The value is a short string safe to put in an HTTP header or cookie unescaped: 1 to {@value
 * #MAX_LENGTH} characters from {@code [A-Za-z0-9._:/+=-]}. What it encodes is up to the component
 * that issued it (see {@code dev.headroom.db}); core only carries it.
 *
 * @param value the wire form, as produced by {@link #toString()}
 */
public record ConsistencyToken(String value) {

    /** The longest accepted wire form, in characters. */
    public static final int MAX_LENGTH = 256;

    /**
     * Validates the wire form.
     *
     * @throws NullPointerException if {@code value} is null
     * @throws IllegalArgumentException if {@code value} is empty, too long or has a character outside
     *     the allowed set
     */
    public ConsistencyToken {
        Objects.requireNonNull(value, "value");
        if (value.isEmpty() || value.length() > MAX_LENGTH) {
            throw new IllegalArgumentException(
                    "consistency token must be 1 to " + MAX_LENGTH + " characters, got " + value.length());
        }
        for (int i = 0; i < value.length(); i++) {
            if (!allowed(value.charAt(i))) {
                throw new IllegalArgumentException("consistency token has an illegal character at index " + i
                        + " (allowed: A-Z a-z 0-9 . _ : / + = -)");
            }
        }
    }

    /**
     * Parses a token received from a header or cookie.
     *
     * @param value the wire form
     * @return the token
     * @throws NullPointerException if {@code value} is null
     * @throws IllegalArgumentException if {@code value} is not a well-formed token
     */
    public static ConsistencyToken parse(String value) {
        return new ConsistencyToken(value);
    }

    /** Returns the wire form, which {@link #parse(String)} accepts. */
    @Override
    public String toString() {
        return value;
    }

    private static boolean allowed(char c) {
        return (c >= 'a' && c <= 'z')
                || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9')
                || c == '.'
                || c == '_'
                || c == ':'
                || c == '/'
                || c == '+'
                || c == '='
                || c == '-';
    }
}
