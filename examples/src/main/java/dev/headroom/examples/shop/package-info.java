/**
 * The example shop: a small multi-tenant web app (Javalin) in which every Headroom component does
 * its job. {@link dev.headroom.examples.shop.ShopApp} is where each component is wired, a few lines
 * each; the other classes are the shop's own code (SQL, HTTP handlers, the dashboard).
 */
@NullMarked
package dev.headroom.examples.shop;

import org.jspecify.annotations.NullMarked;
