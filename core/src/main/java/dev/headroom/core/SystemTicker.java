package dev.headroom.core;

/** {@link System#nanoTime()} as a {@link Ticker}. */
enum SystemTicker implements Ticker {
    INSTANCE;

    @Override
    public long read() {
        return System.nanoTime();
    }
}
