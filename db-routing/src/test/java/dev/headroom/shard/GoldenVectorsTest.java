package dev.headroom.shard;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Pins every strategy's output: {@code src/test/resources/shard-golden-vectors.tsv} lists keys and
 * the shard each strategy gives them. If this test fails, a change would move keys between shards
 * in production: that is never a refactoring. Regenerate only for a new strategy or new vectors,
 * with {@code -Dheadroom.golden.write=true}, and review the diff.
 */
class GoldenVectorsTest {

    private static final Path FILE = Path.of("src/test/resources/shard-golden-vectors.tsv");

    private static List<String> names(int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add("shard-" + i);
        }
        return out;
    }

    /** Every key type, every strategy, in a fixed order (bounded loads depends on the order). */
    static List<String> lines() {
        List<String> out = new ArrayList<>();
        JumpShardResolver<Long> jump16 = new JumpShardResolver<>(KeyHasher.ofLong(), names(16));
        JumpShardResolver<String> jump7 = new JumpShardResolver<>(KeyHasher.ofString(), names(7));
        Map<String, Double> weights = new LinkedHashMap<>();
        weights.put("eu-1", 1.0);
        weights.put("eu-2", 2.0);
        weights.put("us-1", 1.5);
        weights.put("ap-1", 0.5);
        RendezvousShardResolver<String> hrw = new RendezvousShardResolver<>(KeyHasher.ofString(), weights);
        RendezvousShardResolver<UUID> hrwUuid = new RendezvousShardResolver<>(KeyHasher.ofUuid(), weights);
        LocalBoundedLoadPlacement<Long> bounded =
                new LocalBoundedLoadPlacement<>(KeyHasher.ofLong(), names(5), 0.25, 20);
        HexFormat hex = HexFormat.of();
        for (int i = 0; i < 64; i++) {
            long l = i * 0x9E3779B97F4A7C15L;
            String s = "tenant-" + i;
            UUID u = new UUID(l, ~l);
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            out.add("hash\tlong\t" + l + "\t"
                    + Long.toHexString(KeyHasher.ofLong().hash(l)));
            out.add("hash\tstring\t" + s + "\t"
                    + Long.toHexString(KeyHasher.ofString().hash(s)));
            out.add("hash\tuuid\t" + u + "\t"
                    + Long.toHexString(KeyHasher.ofUuid().hash(u)));
            out.add("hash\tbytes\t" + hex.formatHex(b) + "\t"
                    + Long.toHexString(KeyHasher.ofBytes().hash(b)));
            out.add("jump16\tlong\t" + l + "\t" + jump16.shardFor(l));
            out.add("jump7\tstring\t" + s + "\t" + jump7.shardFor(s));
            out.add("rendezvous\tstring\t" + s + "\t" + hrw.shardFor(s));
            out.add("rendezvous\tuuid\t" + u + "\t" + hrwUuid.shardFor(u));
            out.add("bounded_load\tlong\t" + l + "\t" + bounded.place(l));
        }
        return out;
    }

    @Test
    void everyStrategyStillGivesTheCheckedInShards() throws IOException {
        List<String> now = lines();
        if (Boolean.getBoolean("headroom.golden.write")) {
            List<String> file = new ArrayList<>();
            file.add("# strategy\tkey type\tkey\tshard (or XXH3-64 hash in hex); see GoldenVectorsTest for topologies");
            file.addAll(now);
            Files.write(FILE, file, StandardCharsets.UTF_8);
        }
        List<String> golden = new ArrayList<>(Files.readAllLines(FILE, StandardCharsets.UTF_8));
        golden.removeIf(l -> l.startsWith("#"));
        assertThat(golden).hasSize(64 * 9);
        assertThat(now).containsExactlyElementsOf(golden);
    }
}
