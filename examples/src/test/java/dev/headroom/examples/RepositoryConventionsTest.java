package dev.headroom.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Conventions the whole repository keeps, checked over its source tree. */
class RepositoryConventionsTest {

    /** Surefire runs in the module's directory (examples/); the repository root is its parent. */
    private static final Path ROOT = Path.of("..");

    /**
     * NullAway (profile {@code null-checks}, JDK 21+) holds code to its annotations only where a
     * package is {@code @NullMarked}, so a package without them would silently escape the check.
     */
    @Test
    void everyMainPackageHasAPackageInfoThatIsNullMarked() throws IOException {
        List<Path> packages = new ArrayList<>();
        List<String> violations = new ArrayList<>();
        try (Stream<Path> modules = Files.list(ROOT)) {
            for (Path module : modules.sorted().toList()) {
                Path sources = module.resolve("src/main/java");
                if (!Files.isDirectory(sources)) {
                    continue;
                }
                try (Stream<Path> dirs = Files.walk(sources)) {
                    for (Path dir : dirs.filter(Files::isDirectory).toList()) {
                        if (!containsJava(dir)) {
                            continue;
                        }
                        packages.add(dir);
                        Path info = dir.resolve("package-info.java");
                        if (!Files.exists(info)) {
                            violations.add(ROOT.relativize(dir) + ": no package-info.java");
                        } else if (!Files.readString(info, StandardCharsets.UTF_8)
                                .contains("@NullMarked")) {
                            violations.add(ROOT.relativize(info) + ": not @NullMarked");
                        }
                    }
                }
            }
        }
        assertThat(packages)
                .as("main-code packages found under %s", ROOT.toAbsolutePath().normalize())
                .hasSizeGreaterThan(10);
        assertThat(violations).as("packages NullAway would not check").isEmpty();
    }

    /**
     * An integration test whose service is missing fails, saying how to start it; it never skips. A
     * JUnit assumption or {@code @Disabled} in an {@code *IT} would turn a missing service or a broken
     * feature into a green build.
     */
    @Test
    void noIntegrationTestCanSkipItself() throws IOException {
        List<String> violations = new ArrayList<>();
        int its = 0;
        try (Stream<Path> files = Files.walk(ROOT, 12)) {
            for (Path file : files.filter(f -> f.getFileName().toString().endsWith("IT.java"))
                    .filter(f -> f.toString().contains("src/test/java"))
                    .sorted()
                    .toList()) {
                its++;
                String source = Files.readString(file, StandardCharsets.UTF_8);
                for (String skip : List.of("assumeTrue", "assumeFalse", "assumingThat", "Assumptions", "@Disabled")) {
                    if (source.contains(skip)) {
                        violations.add(ROOT.relativize(file) + " uses " + skip);
                    }
                }
            }
        }
        assertThat(its).as("integration tests found").isGreaterThan(10);
        assertThat(violations).as("integration tests that can skip themselves").isEmpty();
    }

    /**
     * The README and the docs must stand alone in a user's clone: every relative link resolves to a
     * file or folder of this repository, and none climbs out of it.
     */
    @Test
    void docsLinkOnlyToFilesInsideTheRepository() throws IOException {
        java.util.regex.Pattern link = java.util.regex.Pattern.compile("\\]\\(([^)\\s]+)\\)");
        Path root = ROOT.toAbsolutePath().normalize();
        List<Path> documents = new ArrayList<>(List.of(root.resolve("README.md")));
        try (Stream<Path> docs = Files.list(root.resolve("docs"))) {
            docs.filter(f -> f.toString().endsWith(".md")).sorted().forEach(documents::add);
        }
        List<String> broken = new ArrayList<>();
        for (Path document : documents) {
            java.util.regex.Matcher m = link.matcher(Files.readString(document, StandardCharsets.UTF_8));
            while (m.find()) {
                String target = m.group(1);
                if (target.startsWith("http://") || target.startsWith("https://") || target.startsWith("#")) {
                    continue;
                }
                String file = target.contains("#") ? target.substring(0, target.indexOf('#')) : target;
                Path resolved = document.getParent().resolve(file).normalize();
                if (!resolved.startsWith(root)) {
                    broken.add(root.relativize(document) + ": " + target + " leaves the repository");
                } else if (!Files.exists(resolved)) {
                    broken.add(root.relativize(document) + ": " + target + " does not exist");
                }
            }
        }
        assertThat(documents).hasSizeGreaterThanOrEqualTo(4);
        assertThat(broken).as("links a reader of a clone cannot follow").isEmpty();
    }

    private static boolean containsJava(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.anyMatch(f -> f.toString().endsWith(".java"));
        }
    }
}
