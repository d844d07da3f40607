package dev.headroom.cache;

import dev.headroom.core.HeadroomException;

/**
 * A loader failed, so a value could not be served. The cause is the loader's exception. The key is
 * not in the message (keys are often personal data); catch this where the key is known.
 */
public class CacheLoadException extends HeadroomException {
    private static final long serialVersionUID = 1L;

    private final String cacheName;

    /**
     * Creates the exception.
     *
     * @param cacheName the cache whose loader failed
     * @param cause the loader's failure
     */
    public CacheLoadException(String cacheName, Throwable cause) {
        super("cache '" + cacheName + "': loader failed: " + cause, cause);
        this.cacheName = cacheName;
    }

    /** Returns the name of the cache whose loader failed. */
    public String cacheName() {
        return cacheName;
    }
}
