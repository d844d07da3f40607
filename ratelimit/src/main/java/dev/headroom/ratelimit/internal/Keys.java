package dev.headroom.ratelimit.internal;

import dev.headroom.ratelimit.RateLimitPolicy;
import dev.headroom.ratelimit.RateLimiter;
import java.util.Objects;

/** Checks of caller input shared by the limiters. Not API. */
public final class Keys {
    private Keys() {}

    public static void check(String key) {
        Objects.requireNonNull(key, "key");
        if (key.isEmpty()) {
            throw new IllegalArgumentException("key must not be empty");
        }
        if (key.length() > RateLimiter.MAX_KEY_LENGTH) {
            throw new IllegalArgumentException("key is " + key.length() + " characters; at most "
                    + RateLimiter.MAX_KEY_LENGTH + " (hash longer keys before limiting on them)");
        }
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < key.length() && Character.isLowSurrogate(key.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException("key holds an unpaired surrogate at index " + i
                        + " (UTF-8 cannot encode it: such keys would share one Redis bucket)");
            }
        }
    }

    public static void checkPermits(RateLimitPolicy policy, long permits) {
        if (permits < 1) {
            throw new IllegalArgumentException("permits must be >= 1, got " + permits);
        }
        if (permits > policy.maxPermits()) {
            throw new IllegalArgumentException("permits (" + permits + ") exceed the smallest capacity ("
                    + policy.maxPermits() + ") of policy '" + policy.name() + "': they could never be granted");
        }
    }

    public static String checkName(String name) {
        Objects.requireNonNull(name, "name");
        if (name.isBlank() || name.length() > 64) {
            throw new IllegalArgumentException("name must be 1-64 characters and not blank, got '" + name + "'");
        }
        return name;
    }

    /** A key for a message: at most 64 characters. */
    public static String show(String key) {
        return key.length() <= 64 ? key : key.substring(0, 64) + "...";
    }
}
