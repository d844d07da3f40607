package dev.headroom.queue.internal;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The fingerprint of a job's type and payload kept beside its idempotency key, so that a duplicate
 * enqueue can tell "same job again" from "same key, different job" after the job itself is gone.
 */
public final class PayloadDigest {

    private PayloadDigest() {}

    /**
     * Returns SHA-256 over the type's UTF-8 bytes, a zero byte, then the payload.
     *
     * @param type the job type
     * @param payload the payload
     * @return 32 bytes
     */
    public static byte[] of(String type, byte[] payload) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
        sha.update(type.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
        sha.update(payload);
        return sha.digest();
    }
}
