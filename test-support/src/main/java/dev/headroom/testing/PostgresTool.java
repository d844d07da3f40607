package dev.headroom.testing;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs PostgreSQL's server binaries ({@code pg_ctl}, {@code pg_basebackup}) the way the server
 * demands: as the {@code postgres} user, through {@code runuser} when the JVM runs as root (the
 * server refuses to run as root). Stateless; thread-safe.
 */
final class PostgresTool {

    private static final String POSTGRES_USER = "postgres";

    private PostgresTool() {}

    /** Returns whether this JVM runs as root, so commands must switch to {@code postgres}. */
    static boolean runningAsRoot() {
        return "root".equals(System.getProperty("user.name"));
    }

    /**
     * Runs a PostgreSQL binary as {@code postgres} and returns its output.
     *
     * @param timeout the longest the command may run
     * @param binary e.g. {@code pg_ctl}; found under the newest {@code /usr/lib/postgresql/N/bin}
     * @param args its arguments
     * @return its standard output and error, merged
     * @throws IllegalStateException if it cannot run, exits non-zero or outlives the timeout; the
     *     message has the command line and its output
     */
    static String run(Duration timeout, String binary, String... args) {
        List<String> cmd = new ArrayList<>();
        if (runningAsRoot()) {
            cmd.addAll(List.of("runuser", "-u", POSTGRES_USER, "--"));
        }
        cmd.add(binary(binary));
        cmd.addAll(Arrays.asList(args));
        String line = String.join(" ", cmd);
        try {
            // stdin and output go to files, not pipes: pg_ctl start leaves a postmaster that inherits them.
            File out = File.createTempFile("headroom-pg-tool", ".out");
            try {
                Process p = new ProcessBuilder(cmd)
                        .redirectErrorStream(true)
                        .redirectOutput(out)
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                        .start();
                if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(line + " did not finish within " + timeout + ": " + read(out));
                }
                if (p.exitValue() != 0) {
                    throw new IllegalStateException(line + " exited with " + p.exitValue() + ": " + read(out));
                }
                return read(out);
            } finally {
                Files.deleteIfExists(out.toPath());
            }
        } catch (IOException e) {
            throw new IllegalStateException(line + " could not run: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + line, e);
        }
    }

    /** Hands a file or directory this JVM made to {@code postgres}; nothing to do unless root. */
    static void giveToPostgres(Path path) throws IOException {
        if (runningAsRoot()) {
            UserPrincipal postgres =
                    path.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(POSTGRES_USER);
            Files.setOwner(path, postgres);
        }
    }

    private static String read(File out) throws IOException {
        return Files.readString(out.toPath(), StandardCharsets.UTF_8).strip();
    }

    private static String binary(String name) {
        File[] versions = new File("/usr/lib/postgresql").listFiles();
        if (versions != null) {
            // Newest first; "15" sorts after "9.6" numerically, not as text.
            Arrays.sort(versions, (a, b) -> Double.compare(version(b), version(a)));
            for (File version : versions) {
                File bin = new File(version, "bin/" + name);
                if (bin.canExecute()) {
                    return bin.getPath();
                }
            }
        }
        return name;
    }

    private static double version(File dir) {
        try {
            return Double.parseDouble(dir.getName());
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
