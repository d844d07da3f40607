/**
 * The examples module: the example shop web app lives in {@code dev.headroom.examples.shop}; the
 * README's quick starts are compiled and run by this package's tests.
 */
@NullMarked
package dev.headroom.examples;

import org.jspecify.annotations.NullMarked;
