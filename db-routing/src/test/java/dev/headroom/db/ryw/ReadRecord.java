package dev.headroom.db.ryw;

/**
 * One read of the history: reader {@code reader} was handed {@code (key, handed)} with the writer's
 * token and read {@code seen} (0 when the row was missing) on the replica or the primary, or failed
 * (a statement on a replica that died under it). {@code sabotage} marks a read made on purpose
 * without the token, to prove the checker sees stale reads.
 */
record ReadRecord(String reader, int key, long handed, long seen, boolean onReplica, boolean failed, boolean sabotage) {

    static ReadRecord failed(String reader, int key, long handed, boolean sabotage) {
        return new ReadRecord(reader, key, handed, -1, false, true, sabotage);
    }

    /** A read that saw a version older than the one it was handed: a read-your-writes violation. */
    boolean stale() {
        return !failed && seen < handed;
    }

    /** One line of a history file. */
    String line() {
        return String.join(
                " ",
                reader,
                Integer.toString(key),
                Long.toString(handed),
                Long.toString(seen),
                failed ? "failed" : onReplica ? "replica" : "primary",
                sabotage ? "sabotage" : "token");
    }

    static ReadRecord parse(String line) {
        String[] f = line.trim().split(" ");
        if (f.length != 6) {
            throw new IllegalArgumentException("not a history line: '" + line + "'");
        }
        return new ReadRecord(
                f[0],
                Integer.parseInt(f[1]),
                Long.parseLong(f[2]),
                Long.parseLong(f[3]),
                f[4].equals("replica"),
                f[4].equals("failed"),
                f[5].equals("sabotage"));
    }

    @Override
    public String toString() {
        return line();
    }
}
