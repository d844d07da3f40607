/** The machinery behind {@link dev.headroom.resilience.Guard}. Not API: it may change at any time. */
@NullMarked
package dev.headroom.resilience.internal;

import org.jspecify.annotations.NullMarked;
