package dev.headroom.queue;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.temporal.ChronoUnit;
import java.util.BitSet;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A five-field cron expression — minute (0-59), hour (0-23), day of month (1-31), month (1-12), day
 * of week (0-7, 0 and 7 are Sunday) — with {@code *}, numbers, ranges {@code a-b}, lists {@code
 * a,b} and steps {@code a/n} (from a to the maximum), {@code a-b/n} and a star followed by {@code /n}. As in classic cron, when
 * both the day of month and the day of week are restricted, a day matching either fires. Times are
 * wall-clock times of the zone given to {@link #next}: a time skipped by a daylight-saving jump does
 * not fire, one repeated fires once (at its first occurrence). Immutable.
 */
public final class CronExpression {

    /** Far enough for February 29th across a century year that is not a leap year (2096, 2104). */
    private static final int SEARCH_YEARS = 9;

    private final String text;
    private final BitSet minutes;
    private final BitSet hours;
    private final BitSet daysOfMonth;
    private final BitSet months;
    private final BitSet daysOfWeek;
    private final boolean domRestricted;
    private final boolean dowRestricted;

    private CronExpression(String text, String[] f) {
        this.text = text;
        this.minutes = field("minute", f[0], 0, 59);
        this.hours = field("hour", f[1], 0, 23);
        this.daysOfMonth = field("day of month", f[2], 1, 31);
        this.months = field("month", f[3], 1, 12);
        BitSet dow = field("day of week", f[4], 0, 7);
        if (dow.get(7)) {
            dow.set(0);
        }
        this.daysOfWeek = dow;
        // As classic cron: a field starting with '*' (such as */1) leaves its day unrestricted.
        this.domRestricted = !f[2].startsWith("*");
        this.dowRestricted = !f[4].startsWith("*");
    }

    /**
     * Parses an expression.
     *
     * @param expression five fields separated by spaces, such as {@code "0/15 9-17 * * 1-5"} (every
     *     quarter hour from 9:00 to 17:45 on weekdays)
     * @return the expression
     * @throws IllegalArgumentException naming the field that is malformed or out of range, or if the
     *     expression never fires (such as February 30th)
     */
    public static CronExpression parse(String expression) {
        Objects.requireNonNull(expression, "expression");
        String[] fields = expression.trim().split("\\s+");
        if (fields.length != 5) {
            throw new IllegalArgumentException("cron expression '" + expression
                    + "' must have 5 fields (minute hour day-of-month month day-of-week), got " + fields.length);
        }
        CronExpression cron = new CronExpression(expression.trim(), fields);
        ZonedDateTime probe = ZonedDateTime.parse("2024-01-01T00:00:00Z");
        if (cron.next(probe) == null) {
            throw new IllegalArgumentException("cron expression '" + expression + "' never fires");
        }
        return cron;
    }

    /**
     * Returns the first firing time strictly after {@code after}, in its zone. The search runs over
     * wall-clock times (which only move forward, whatever the zone's transitions) and maps each
     * match to an instant: a wall-clock time in a gap is skipped, one in an overlap takes its
     * earlier offset, and a match that is not after {@code after} (the repeated hour, seen again)
     * is passed over. Always terminates.
     *
     * @param after the time to search from
     * @return the next firing time, or null if none within nine years
     */
    public @Nullable ZonedDateTime next(ZonedDateTime after) {
        LocalDateTime t =
                after.toLocalDateTime().truncatedTo(ChronoUnit.MINUTES).plusMinutes(1);
        LocalDateTime limit = t.plusYears(SEARCH_YEARS);
        while (t.isBefore(limit)) {
            if (!months.get(t.getMonthValue())) {
                t = t.withDayOfMonth(1).truncatedTo(ChronoUnit.DAYS).plusMonths(1);
            } else if (!dayMatches(t)) {
                t = t.truncatedTo(ChronoUnit.DAYS).plusDays(1);
            } else if (!hours.get(t.getHour())) {
                t = t.truncatedTo(ChronoUnit.HOURS).plusHours(1);
            } else if (!minutes.get(t.getMinute())) {
                t = t.plusMinutes(1);
            } else {
                List<ZoneOffset> offsets = after.getZone().getRules().getValidOffsets(t);
                if (!offsets.isEmpty()) { // empty: skipped by a jump forward
                    ZonedDateTime fire = ZonedDateTime.ofLocal(t, after.getZone(), offsets.get(0));
                    if (fire.isAfter(after)) {
                        return fire;
                    }
                }
                t = t.plusMinutes(1);
            }
        }
        return null;
    }

    private boolean dayMatches(LocalDateTime t) {
        boolean dom = daysOfMonth.get(t.getDayOfMonth());
        boolean dow = daysOfWeek.get(t.getDayOfWeek().getValue() % 7);
        if (domRestricted && dowRestricted) {
            return dom || dow;
        }
        return dom && dow;
    }

    private static BitSet field(String name, String spec, int min, int max) {
        BitSet bits = new BitSet(max + 1);
        for (String part : spec.split(",", -1)) {
            int step = 1;
            String range = part;
            int slash = part.indexOf('/');
            if (slash >= 0) {
                step = number(name, part.substring(slash + 1), 1, max);
                range = part.substring(0, slash);
            }
            int from;
            int to;
            if (range.equals("*")) {
                from = min;
                to = max;
            } else if (range.indexOf('-') > 0) {
                from = number(name, range.substring(0, range.indexOf('-')), min, max);
                to = number(name, range.substring(range.indexOf('-') + 1), min, max);
                if (from > to) {
                    throw new IllegalArgumentException(
                            "cron " + name + " range '" + range + "' must go from low to high");
                }
            } else {
                from = number(name, range, min, max);
                to = slash >= 0 ? max : from;
            }
            for (int v = from; v <= to; v += step) {
                bits.set(v);
            }
        }
        return bits;
    }

    private static int number(String name, String s, int min, int max) {
        if (s.isEmpty() || s.length() > 2 || !s.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("cron " + name + " '" + s + "' is not a number (ASCII digits)");
        }
        int v = Integer.parseInt(s);
        if (v < min || v > max) {
            throw new IllegalArgumentException("cron " + name + " " + v + " is out of range " + min + "-" + max);
        }
        return v;
    }

    @Override
    public String toString() {
        return text;
    }
}
