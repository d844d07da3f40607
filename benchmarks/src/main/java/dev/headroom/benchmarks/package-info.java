/**
 * JMH benchmarks of Headroom's hot paths, each beside its raw-library baseline. Not published.
 */
@NullMarked
package dev.headroom.benchmarks;

import org.jspecify.annotations.NullMarked;
