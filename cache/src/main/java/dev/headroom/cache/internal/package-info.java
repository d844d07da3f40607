/** Implementation detail of {@code dev.headroom.cache}; not API, may change without notice. */
@NullMarked
package dev.headroom.cache.internal;

import org.jspecify.annotations.NullMarked;
