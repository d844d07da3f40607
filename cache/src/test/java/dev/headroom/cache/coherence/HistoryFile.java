package dev.headroom.cache.coherence;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * A separate-process worker's history: one line per event, {@code <record name> TAB <component> TAB
 * ...} in the record's component order ({@code ~} for null), plus {@code count} and {@code unexpected}
 * lines. Each line goes to the file in one {@code write} call as it happens, so a worker killed with
 * SIGKILL loses nothing it recorded, except perhaps a last line cut short, which {@link #read}
 * tolerates. In particular a {@link History.WriteBegun} is on file before the source is bumped.
 *
 * <p>Appending is thread-safe (a lock, not {@code synchronized}: the write blocks).
 */
final class HistoryFile implements AutoCloseable {

    private static final List<Class<? extends Record>> EVENTS = List.of(
            History.Read.class,
            History.Write.class,
            History.WriteBegun.class,
            History.Load.class,
            History.Delivery.class,
            History.BusState.class,
            History.Clear.class,
            History.Fault.class);

    private final FileOutputStream out;
    private final ReentrantLock lock = new ReentrantLock();

    HistoryFile(Path file) {
        try {
            out = new FileOutputStream(file.toFile(), true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the history file " + file, e);
        }
    }

    void append(Record event) {
        StringBuilder line = new StringBuilder(event.getClass().getSimpleName());
        for (RecordComponent c : event.getClass().getRecordComponents()) {
            Object value;
            try {
                value = c.getAccessor().invoke(event);
            } catch (IllegalAccessException | InvocationTargetException e) {
                throw new IllegalStateException("cannot read " + c + " of " + event, e);
            }
            line.append('\t').append(value == null ? "~" : value.toString());
        }
        write(line);
    }

    void count(String name, long value) {
        write(new StringBuilder("count\t").append(name).append('\t').append(value));
    }

    void unexpected(String what) {
        write(new StringBuilder("unexpected\t").append(what.replaceAll("[\t\r\n]+", " ")));
    }

    private void write(StringBuilder line) {
        byte[] bytes = line.append('\n').toString().getBytes(StandardCharsets.UTF_8);
        lock.lock();
        try {
            out.write(bytes);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to a history file", e);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close a history file", e);
        } finally {
            lock.unlock();
        }
    }

    /** What a history file held besides its events. */
    record Contents(Map<String, Long> counts, List<String> unexpected, boolean truncated) {}

    /**
     * Adds the events of {@code file} to {@code into}. A last line without its newline (a worker
     * killed mid-write) is dropped and reported as {@code truncated}; any other line that does not
     * parse is reported in {@code unexpected}.
     */
    static Contents read(Path file, History into) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        int end = text.lastIndexOf('\n') + 1;
        boolean truncated = end < text.length();
        Map<String, Long> counts = new TreeMap<>();
        List<String> unexpected = new ArrayList<>();
        for (String line : text.substring(0, end).split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            try {
                if (f[0].equals("count")) {
                    counts.merge(f[1], Long.parseLong(f[2]), Long::sum);
                } else if (f[0].equals("unexpected")) {
                    unexpected.add(file.getFileName() + ": " + f[1]);
                } else {
                    into.keep(parse(f));
                }
            } catch (RuntimeException e) {
                unexpected.add(file.getFileName() + ": unreadable line '" + line + "': " + e);
            }
        }
        return new Contents(counts, unexpected, truncated);
    }

    private static Record parse(String[] f) {
        for (Class<? extends Record> type : EVENTS) {
            if (!type.getSimpleName().equals(f[0])) {
                continue;
            }
            RecordComponent[] components = type.getRecordComponents();
            if (f.length != components.length + 1) {
                throw new IllegalArgumentException(
                        "expected " + components.length + " fields, found " + (f.length - 1));
            }
            Class<?>[] types = new Class<?>[components.length];
            Object[] values = new Object[components.length];
            for (int i = 0; i < components.length; i++) {
                types[i] = components[i].getType();
                values[i] = value(types[i], f[i + 1]);
            }
            try {
                Constructor<? extends Record> constructor = type.getDeclaredConstructor(types);
                return constructor.newInstance(values);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("cannot make a " + type.getSimpleName(), e);
            }
        }
        throw new IllegalArgumentException("unknown event '" + f[0] + "'");
    }

    private static @Nullable Object value(Class<?> type, String text) {
        if (type == long.class) {
            return Long.parseLong(text);
        } else if (type == int.class) {
            return Integer.parseInt(text);
        } else if (type == boolean.class) {
            return Boolean.parseBoolean(text);
        } else if (type == History.WriteKind.class) {
            return History.WriteKind.valueOf(text);
        } else if (type == String.class) {
            return text.equals("~") ? null : text;
        }
        throw new IllegalArgumentException("no line format for " + type);
    }
}
