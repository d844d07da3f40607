package dev.headroom.queue.process;

import dev.headroom.core.Codec;
import dev.headroom.queue.JobQueue;
import dev.headroom.queue.JobWorker;
import dev.headroom.queue.postgres.PostgresJobStore;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * A worker JVM for {@code KilledWorkerIT}: runs a transactional handler that writes its effect,
 * prints {@code IN-HANDLER <job id> <lease token>} and then never returns, so the test can kill
 * the process with SIGKILL inside the handler. Arguments: the JDBC URL of the queue's database
 * (schema included).
 */
public final class HandlerThatHangsProcess {

    private HandlerThatHangsProcess() {}

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(args[0]);
        JobQueue queue =
                JobQueue.builder(PostgresJobStore.create(ds)).worker("doomed").build();
        CountDownLatch never = new CountDownLatch(1);
        JobWorker.builder(queue)
                .queue("default", 1)
                .lease(Duration.ofSeconds(2))
                .transactionalHandler("pay", Codec.utf8(), (payload, ctx) -> {
                    try (PreparedStatement ps =
                            ctx.connection().prepareStatement("INSERT INTO effects (job_id, attempt) VALUES (?, ?)")) {
                        ps.setLong(1, ctx.job().id().value());
                        ps.setInt(2, ctx.job().attempt());
                        ps.executeUpdate();
                    }
                    out.println("IN-HANDLER " + ctx.job().id().value() + " "
                            + ctx.job().lease().value());
                    never.await(); // killed here
                })
                .build()
                .start();
        out.println("STARTED");
        never.await();
    }
}
