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
 * @param generation which {@linkplain RemoteStore#clear() clear} the store had last seen when it
 *     read this: handed back to {@link RemoteStore#putIfVersion}, so that a load that read before a
 *     clear never writes a value that readers after the clear can see; 0 for a store without
 *     generations
 * @param writtenAtMillis when the value was written, in epoch milliseconds of the store's clock (0:
 *     unknown); a cache filling L1 from it keeps it no longer than a value loaded then, so a value is
 *     never served past its TTL counted from the load, however many tiers it passed through
 * @param foundAbsent no value, because a load under the key's lease found none in the source
 *     ({@link RemoteStore#putAbsentIfVersion}): instances waiting on that lease take the absence
 *     instead of loading in turn; every other reader treats it as no value
 */
// The bytes pass from the store to the codec without a copy on the L2 hit path; equals compares
// the array by identity, and nothing compares RemoteValues.
@SuppressWarnings("ArrayRecordComponent")
public record RemoteValue(
        byte @Nullable [] value, long version, long generation, long writtenAtMillis, boolean foundAbsent) {

    /** An absent value at version 0, generation 0. */
    public static final RemoteValue ABSENT = new RemoteValue(null, 0, 0, 0);

    /**
     * A value, or a plain absence (not {@linkplain #foundAbsent found absent}).
     *
     * @param value the encoded value, or null if the store has none
     * @param version the key's version
     * @param generation the clear generation the read was made under
     * @param writtenAtMillis when the value was written (0: unknown)
     */
    public RemoteValue(byte @Nullable [] value, long version, long generation, long writtenAtMillis) {
        this(value, version, generation, writtenAtMillis, false);
    }

    /**
     * A value whose write time is unknown.
     *
     * @param value the encoded value, or null if the store has none
     * @param version the key's version
     * @param generation the clear generation the read was made under
     */
    public RemoteValue(byte @Nullable [] value, long version, long generation) {
        this(value, version, generation, 0);
    }

    /**
     * A value of a store without clear generations (generation 0).
     *
     * @param value the encoded value, or null if the store has none
     * @param version the key's version
     */
    public RemoteValue(byte @Nullable [] value, long version) {
        this(value, version, 0, 0);
    }
}
