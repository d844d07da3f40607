package dev.headroom.examples.shop;

import io.lettuce.core.RedisURI;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shop's network link to Redis: a small TCP relay on a loopback port that every Redis client of
 * the shop (the caches' remote store and invalidation bus, the rate limiter, the health check)
 * connects through, so an operator can {@linkplain #cut() cut} it as a network partition would:
 * every open connection is closed and new ones are closed as soon as they are accepted, until
 * {@link #restore()}. The clients then see Redis as down, for real: the caches serve from their L1
 * and the database, the limiter falls back to its failure mode, and Lettuce reconnects by itself
 * once the link is restored.
 *
 * <p>One platform thread accepts, two per connection copy bytes (a handful of connections for the
 * shop's lifetime). Thread-safe; {@link #close()} closes everything.
 */
final class RedisLink implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(RedisLink.class);

    private final RedisURI upstream;
    private final ServerSocket server;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private volatile boolean cut;
    private volatile boolean closed;

    private RedisLink(RedisURI upstream, ServerSocket server) {
        this.upstream = upstream;
        this.server = server;
    }

    /** Opens a link to the Redis at {@code uri} on an ephemeral loopback port. */
    static RedisLink open(String uri) throws IOException {
        RedisURI upstream = RedisURI.create(uri);
        ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        RedisLink link = new RedisLink(upstream, server);
        Thread acceptor = new Thread(link::accept, "shop-redis-link");
        acceptor.setDaemon(true);
        acceptor.start();
        return link;
    }

    /** The URI the shop's clients use: the upstream's, with this link's host and port. */
    String uri() {
        RedisURI through = RedisURI.create(upstream.toURI().toString());
        through.setHost(InetAddress.getLoopbackAddress().getHostAddress());
        through.setPort(server.getLocalPort());
        return through.toURI().toString();
    }

    /** Closes every connection through the link and refuses new ones until {@link #restore()}. */
    void cut() {
        if (!cut) {
            cut = true;
            log.warn("link to Redis {}:{} cut by the operator", upstream.getHost(), upstream.getPort());
        }
        closeAll();
    }

    /** Lets connections through again; the clients reconnect on their own schedule. */
    void restore() {
        if (cut) {
            cut = false;
            log.warn("link to Redis {}:{} restored", upstream.getHost(), upstream.getPort());
        }
    }

    boolean isCut() {
        return cut;
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            log.debug("closing the Redis link's server socket: {}", e.toString());
        }
        closeAll();
    }

    private void accept() {
        while (!closed) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                if (!closed) {
                    log.warn("the Redis link stopped accepting: {}", e.toString());
                }
                return;
            }
            if (cut) {
                quietly(client);
                continue;
            }
            Socket redis = new Socket();
            try {
                redis.connect(new InetSocketAddress(upstream.getHost(), upstream.getPort()), 2_000);
            } catch (IOException e) {
                quietly(client); // Redis itself is down: the client sees the link close
                quietly(redis);
                continue;
            }
            open.add(client);
            open.add(redis);
            if (cut) { // cut while connecting
                closeAll();
                continue;
            }
            pump(client, redis, "up");
            pump(redis, client, "down");
        }
    }

    private void pump(Socket from, Socket to, String direction) {
        Thread t = new Thread(
                () -> {
                    byte[] buffer = new byte[16 * 1024];
                    try (InputStream in = from.getInputStream();
                            OutputStream out = to.getOutputStream()) {
                        int n;
                        while ((n = in.read(buffer)) >= 0) {
                            out.write(buffer, 0, n);
                            out.flush();
                        }
                    } catch (IOException e) {
                        // the link was cut or a side closed: close both below
                    } finally {
                        quietly(from);
                        quietly(to);
                    }
                },
                "shop-redis-link-" + direction);
        t.setDaemon(true);
        t.start();
    }

    private void closeAll() {
        for (Socket s : open) {
            quietly(s);
        }
    }

    private void quietly(Socket s) {
        open.remove(s);
        try {
            s.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
