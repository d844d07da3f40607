package dev.headroom.core;

/**
 * A value could not be encoded, or bytes could not be decoded, by a {@link Codec}. The message
 * names the codec; {@link #codec()} returns its name.
 */
public class CodecException extends HeadroomException {
    private static final long serialVersionUID = 1L;

    private final String codec;

    /**
     * Creates the exception.
     *
     * @param codec the {@link Codec#name() name} of the codec that failed
     * @param message what was wrong with the input
     * @param cause the underlying failure
     */
    public CodecException(String codec, String message, Throwable cause) {
        super("codec '" + codec + "': " + message, cause);
        this.codec = codec;
    }

    /**
     * Creates the exception.
     *
     * @param codec the {@link Codec#name() name} of the codec that failed
     * @param message what was wrong with the input
     */
    public CodecException(String codec, String message) {
        super("codec '" + codec + "': " + message);
        this.codec = codec;
    }

    /** Returns the name of the codec that failed. */
    public String codec() {
        return codec;
    }
}
