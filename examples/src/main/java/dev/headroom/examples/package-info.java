/**
 * The example web app (a small shop) that wires every Headroom component together. It arrives with
 * the examples issue; until then this package holds the README's compiled quick starts.
 */
@NullMarked
package dev.headroom.examples;

import org.jspecify.annotations.NullMarked;
