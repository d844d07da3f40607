package dev.headroom.cache.coherence;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * The property, checked over a finished run's {@link History}. For every write W (source bumped to
 * version w, then {@code invalidate} or {@code put} on instance A) whose L2 step succeeded:
 *
 * <ul>
 *   <li><b>local:</b> no read on A that starts after W returned returns a version older than w;
 *   <li><b>remote:</b> no read on another instance B that starts after B's bus listener returned from
 *       W's invalidation (a message for the key at an L2 version at least W's, or a "messages may
 *       have been lost" flush that began after W reached L2) returns a version older than w;
 * </ul>
 * and no read returns a version newer than the source's at the read's end (<b>invented</b>).
 *
 * <p>Excused: a read whose value was put by a put P that had not returned when W began (racing
 * writers: P may be ordered after W, and its older value is then the right one). A put of a worker
 * process killed with SIGKILL whose return was never recorded (its {@link History.WriteBegun} is on
 * file, its {@link History.Write} is not) never returned: it may have reached Redis at any time
 * after it began, so it counts as racing every later write. Only such writes of killed processes;
 * a write left unfinished by a process that was not killed is {@link #unfinishedWrites unexpected}.
 *
 * <p>Reported but not counted as violations (nothing promises them a bound today): reads on B
 * more than {@code deliveryBound} after W returned that B's bus never told (split by whether B's
 * bus was known down meanwhile), and reads after writes whose L2 step failed.
 */
final class CoherenceCheck {

    private static final long EXCUSE_SLACK = TimeUnit.SECONDS.toNanos(5);

    /** One violated read, with the write it contradicts and why it is classified as it is. */
    record Violation(String kind, String classification, History.Read read, History.Write write, String detail) {}

    final List<Violation> violations = new ArrayList<>();
    /** Informational findings by class (not asserted). */
    final Map<String, Integer> notes = new TreeMap<>();

    final List<Violation> noteSamples = new ArrayList<>();
    long readsChecked;
    long readsFailed;
    long excusedByRacingPut;
    /** Of {@link #excusedByRacingPut}: reads of a killed process's put whose return was never recorded. */
    long excusedByKilledPut;
    /** Writes begun and never ended by an instance that was not killed (none, in a run that ends cleanly). */
    final List<History.WriteBegun> unfinishedWrites = new ArrayList<>();
    /** Writes begun and never ended by a killed instance (excused). */
    long writesCutShortByKill;

    private final Settings settings;
    private final History h;
    private final Map<String, List<History.Write>> writesByKey = new HashMap<>();
    private final Map<Long, History.Write> writesById = new HashMap<>();
    /** Writes of killed instances that began and have no recorded return, by id. */
    private final Map<Long, History.WriteBegun> killedMidWrite = new HashMap<>();

    private final Map<String, History.Load> loads = new HashMap<>();
    private final List<Map<String, List<History.Delivery>>> keyDeliveries = new ArrayList<>();
    private final List<List<History.Delivery>> flushes = new ArrayList<>();
    /** Per instance: [down from, up again at] intervals of its bus. */
    private final List<List<long[]>> busDown = new ArrayList<>();

    private final List<History.Fault> faults;
    private final Map<Long, History.@Nullable Delivery[]> deliveredMemo = new HashMap<>();

    CoherenceCheck(Settings settings, History h) {
        this.settings = settings;
        this.h = h;
        for (History.Write w : h.writes) {
            writesByKey.computeIfAbsent(w.key(), k -> new ArrayList<>()).add(w);
            writesById.put(w.id(), w);
        }
        writesByKey.values().forEach(l -> l.sort(Comparator.comparingLong(History.Write::version)));
        for (History.WriteBegun b : h.writesBegun) {
            if (writesById.containsKey(b.id())) {
                continue;
            }
            if (h.killed.contains(b.instance())) {
                killedMidWrite.put(b.id(), b);
                writesCutShortByKill++;
            } else {
                unfinishedWrites.add(b);
            }
        }
        for (History.Load l : h.loads) {
            loads.put(l.origin(), l);
        }
        for (int i = 0; i < settings.instances(); i++) { // instance indexes are 0..instances-1
            keyDeliveries.add(new HashMap<>());
            flushes.add(new ArrayList<>());
            busDown.add(new ArrayList<>());
        }
        for (History.Delivery d : h.deliveries) {
            if (d.flush()) {
                flushes.get(d.instance()).add(d);
            } else {
                keyDeliveries
                        .get(d.instance())
                        .computeIfAbsent(d.key(), k -> new ArrayList<>())
                        .add(d);
            }
        }
        Comparator<History.Delivery> byStart = Comparator.comparingLong(History.Delivery::start);
        flushes.forEach(l -> l.sort(byStart));
        keyDeliveries.forEach(m -> m.values().forEach(l -> l.sort(byStart)));
        List<History.BusState> states = new ArrayList<>(h.busStates);
        states.sort(Comparator.comparingLong(History.BusState::at));
        long[] downSince = new long[settings.instances()];
        java.util.Arrays.fill(downSince, -1);
        for (History.BusState s : states) {
            if (!s.subscribed() && downSince[s.instance()] < 0) {
                downSince[s.instance()] = s.at();
            } else if (s.subscribed() && downSince[s.instance()] >= 0) {
                busDown.get(s.instance()).add(new long[] {downSince[s.instance()], s.at()});
                downSince[s.instance()] = -1;
            }
        }
        for (int i = 0; i < downSince.length; i++) {
            if (downSince[i] >= 0) {
                busDown.get(i).add(new long[] {downSince[i], Long.MAX_VALUE});
            }
        }
        this.faults = new ArrayList<>(h.faults);
    }

    CoherenceCheck check() {
        for (History.Read r : h.reads) {
            if (r.failed()) {
                readsFailed++;
                continue;
            }
            readsChecked++;
            checkRead(r);
        }
        violations.sort(Comparator.comparingLong(v -> v.read().start()));
        return this;
    }

    private void checkRead(History.Read r) {
        if (r.version() > r.sourceAtEnd()) {
            violations.add(new Violation(
                    "invented", "invented", r, null, "the source was at v" + r.sourceAtEnd() + " when the read ended"));
            return;
        }
        List<History.Write> writes = writesByKey.getOrDefault(r.key(), List.of());
        int from = firstAbove(writes, r.version());
        boolean noted = false;
        for (int i = from; i < writes.size(); i++) {
            History.Write w = writes.get(i);
            if (w.bumped() > r.start() + EXCUSE_SLACK) {
                break; // written after the read began: irrelevant, and so is every later version
            }
            if (excusedByRacingPut(r, w)) {
                continue;
            }
            boolean local = w.instance() == r.instance();
            if (local) {
                if (w.end() < r.start()) {
                    if (w.l2Ok()) {
                        violations.add(violation("local", r, w, null));
                        return;
                    } else if (!noted) {
                        note("info: local read after a write whose L2 step failed", r, w, null);
                        noted = true;
                    }
                }
                continue;
            }
            History.Delivery d = delivered(w, r.instance());
            if (d != null && d.end() < r.start()) {
                if (w.l2Ok()) {
                    violations.add(violation("remote", r, w, d));
                    return;
                } else if (!noted) {
                    note("info: remote read after delivery of a write whose L2 step failed", r, w, d);
                    noted = true;
                }
            } else if (w.l2Ok()
                    && !noted
                    && r.start() - w.end() > settings.deliveryBound().toNanos()) {
                boolean down = busDownBetween(r.instance(), w.l2Start(), r.start());
                note(
                        down
                                ? "info: undelivered after "
                                        + settings.deliveryBound().toMillis()
                                        + " ms, the reader's bus was down meanwhile (no L1 cap yet)"
                                : "info: undelivered after "
                                        + settings.deliveryBound().toMillis()
                                        + " ms although the reader's bus was up throughout",
                        r,
                        w,
                        d);
                noted = true;
            }
        }
    }

    private void note(String what, History.Read r, History.Write w, History.@Nullable Delivery d) {
        String classification = what + " | " + context(r, w, d);
        notes.merge(classification, 1, Integer::sum);
        if (noteSamples.size() < 20) {
            noteSamples.add(new Violation(what, classification, r, w, describe(r, w, d)));
        }
    }

    private static int firstAbove(List<History.Write> writes, long version) {
        int lo = 0;
        int hi = writes.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (writes.get(mid).version() <= version) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** The value read was put by a put that had not returned when {@code w} began: it may be ordered after w. */
    private boolean excusedByRacingPut(History.Read r, History.Write w) {
        if (!r.origin().startsWith("P")) {
            return false;
        }
        long id = Long.parseLong(r.origin().substring(1));
        History.Write put = writesById.get(id);
        if (put != null && put.end() > w.start()) {
            excusedByRacingPut++;
            return true;
        }
        if (put == null && killedMidWrite.containsKey(id)) {
            excusedByRacingPut++;
            excusedByKilledPut++;
            return true;
        }
        return false;
    }

    /**
     * When {@code instance}'s listener returned from what tells it of {@code w}: the first message for
     * w's key at an L2 version at least w's (or "any version", sent after w reached L2), or the first
     * flush that began after w reached L2; null if neither came.
     */
    private History.@Nullable Delivery delivered(History.Write w, int instance) {
        History.Delivery[] memo =
                deliveredMemo.computeIfAbsent(w.id(), id -> new History.Delivery[settings.instances()]);
        if (memo[instance] != null) {
            return memo[instance];
        }
        History.Delivery best = null;
        if (w.l2Start() >= 0) {
            for (History.Delivery d : keyDeliveries.get(instance).getOrDefault(w.key(), List.of())) {
                if (d.start() < w.l2Start()) {
                    continue;
                }
                boolean covers = d.version() == Long.MAX_VALUE
                        ? d.start() >= Math.max(w.l2Done(), w.l2Start())
                        : w.l2Ok() && d.version() >= w.l2Version();
                if (covers) {
                    best = d;
                    break;
                }
            }
            long after = w.l2Ok() ? w.l2Done() : w.end();
            for (History.Delivery f : flushes.get(instance)) {
                if (f.start() >= after) {
                    if (best == null || f.end() < best.end()) {
                        best = f;
                    }
                    break;
                }
            }
        }
        memo[instance] = best;
        return best;
    }

    private boolean busDownBetween(int instance, long from, long to) {
        for (long[] down : busDown.get(instance)) {
            if (down[0] <= to && down[1] >= from) {
                return true;
            }
        }
        return false;
    }

    private Violation violation(String kind, History.Read r, History.Write w, History.@Nullable Delivery d) {
        return new Violation(kind, kind + " | " + context(r, w, d), r, w, describe(r, w, d));
    }

    /** How the stale value got there, and what was going on: the violation's class. */
    private String context(History.Read r, History.Write w, History.@Nullable Delivery d) {
        List<String> parts = new ArrayList<>();
        if (d != null) {
            if (d.flush()) {
                parts.add(
                        r.flushesAtStart() <= d.flushesAtStart()
                                ? "told by flush, not yet applied at read start"
                                : "told by flush");
            } else {
                parts.add("told by key message");
            }
        }
        parts.add(w.kind() == History.WriteKind.PUT ? "after put" : "after invalidate");
        parts.add(origin(r, w));
        long from = Math.min(w.start(), originStart(r, w)) - TimeUnit.MILLISECONDS.toNanos(100);
        TreeSet<String> kinds = new TreeSet<>();
        for (History.Fault f : faults) {
            if (f.start() <= r.end() && f.end() >= from) {
                kinds.add(f.kind());
            }
        }
        if (busDownBetween(r.instance(), w.start(), r.end())) {
            kinds.add("reader-bus-down");
        }
        parts.add(kinds.isEmpty() ? "no fault" : "faults " + String.join("+", kinds));
        return String.join(" | ", parts);
    }

    private long originStart(History.Read r, History.Write w) {
        History.Load l = loads.get(r.origin());
        if (l != null) {
            return l.start();
        }
        if (r.origin().startsWith("P")) {
            History.Write p = writesById.get(Long.parseLong(r.origin().substring(1)));
            if (p != null) {
                return p.start();
            }
        }
        return w.start();
    }

    private String origin(History.Read r, History.Write w) {
        if (r.origin().startsWith("P")) {
            History.Write p = writesById.get(Long.parseLong(r.origin().substring(1)));
            return "value from a put on "
                    + (p != null && p.instance() == r.instance() ? "the reader" : "another instance");
        }
        History.Load l = loads.get(r.origin());
        if (l == null) {
            return "value of unknown origin " + r.origin();
        }
        String who = l.instance() == r.instance() ? "reader's own" : "another instance's";
        String how = r.origin().startsWith("B") ? " background" : "";
        String when = l.end() > w.l2Done() && w.l2Done() >= 0
                ? "finished after the write reached L2"
                : "finished before the write reached L2";
        return "value from the " + who + how + " load, " + when;
    }

    private String describe(History.Read r, History.Write w, History.@Nullable Delivery d) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(
                "read of %s on i%d [%s..%s] returned v%d (%s) < v%d of %s#%d on i%d [%s..%s, L2 %s v%d done %s]",
                r.key(),
                r.instance(),
                t(r.start()),
                t(r.end()),
                r.version(),
                originText(r),
                w.version(),
                w.kind(),
                w.id(),
                w.instance(),
                t(w.start()),
                t(w.end()),
                w.l2Ok() ? "ok" : "FAILED",
                w.l2Version(),
                t(w.l2Done())));
        if (d != null) {
            s.append(String.format(
                    "; i%d told %s at %s",
                    r.instance(),
                    d.flush()
                            ? "by flush (flushes " + d.flushesAtStart() + ", reader saw " + r.flushesAtStart() + ")"
                            : "by message v" + d.version(),
                    t(d.end())));
        }
        s.append("; source at read end v").append(r.sourceAtEnd());
        return s.toString();
    }

    private String originText(History.Read r) {
        History.Load l = loads.get(r.origin());
        if (l != null) {
            return "load " + l.origin() + " on i" + l.instance() + " " + t(l.start()) + ".." + t(l.end());
        }
        if (r.origin().startsWith("P")) {
            History.Write p = writesById.get(Long.parseLong(r.origin().substring(1)));
            if (p != null) {
                return "put #" + p.id() + " on i" + p.instance() + " " + t(p.start()) + ".." + t(p.end());
            }
        }
        return r.origin();
    }

    static String t(long nanos) {
        return nanos < 0 ? "never" : String.format("%.3fs", nanos / 1e9);
    }

    /** Violations by class, most frequent first. */
    Map<String, Integer> classes() {
        Map<String, Integer> byClass = new TreeMap<>();
        for (Violation v : violations) {
            byClass.merge(v.classification(), 1, Integer::sum);
        }
        return byClass;
    }
}
