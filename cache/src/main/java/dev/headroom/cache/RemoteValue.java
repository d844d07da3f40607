package dev.headroom.cache;

import org.jspecify.annotations.Nullable;

/**
 * What a {@link RemoteStore} holds for one key: the encoded value, if any, and the key's version.
 *
 * @param value the encoded value, or null if the store has none
 * @param version the key's version: 0 for a key never written or invalidated (or whose record
 *     expired); every {@linkplain RemoteStore#put put} and {@linkplain RemoteStore#invalidate
 *     invalidation} makes it larger, and a store must keep it growing even when the record is lost
 *     in between (Redis: at least its clock in microseconds)
 */
// The bytes pass from the store to the codec without a copy on the L2 hit path; equals compares
// the array by identity, and nothing compares RemoteValues.
@SuppressWarnings("ArrayRecordComponent")
public record RemoteValue(byte @Nullable [] value, long version) {

    /** An absent value at version 0. */
    public static final RemoteValue ABSENT = new RemoteValue(null, 0);
}
