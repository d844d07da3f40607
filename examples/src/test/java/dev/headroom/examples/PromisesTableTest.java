package dev.headroom.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Keeps {@code docs/promises.md} honest: every test it names must exist, and every promise must
 * name a test or say {@code NO TEST}.
 *
 * <p>What counts as a test reference: anywhere in the file, {@code `Class#method`} in backticks; in
 * a table's test column (the first column whose header mentions "test"), also a bare {@code
 * `Class`}. A reference resolves when a file {@code Class.java} exists under some module's {@code
 * src/test/java} and, for {@code Class#method}, declares {@code void method(}.
 */
class PromisesTableTest {

    /** Surefire runs in the module's directory (examples/); the repository root is its parent. */
    private static final Path ROOT = Path.of("..");

    private static final Path PROMISES = Path.of("..", "docs", "promises.md");

    private static final Pattern CODE_SPAN = Pattern.compile("`([^`\\n]+)`");
    private static final Pattern METHOD_REFERENCE = Pattern.compile("[A-Z][A-Za-z0-9_]*#[A-Za-z_$][A-Za-z0-9_$]*");
    private static final Pattern CLASS_REFERENCE = Pattern.compile("[A-Z][A-Za-z0-9_]*");
    private static final Pattern SEPARATOR_ROW = Pattern.compile("\\|?\\s*:?-{3,}:?\\s*(\\|\\s*:?-{3,}:?\\s*)*\\|?");
    private static final String NO_TEST = "NO TEST";

    /** One body row of a table that has a test column. */
    private record Row(int line, String promise, String tests) {}

    @Test
    void everyTestThePromisesTableNamesExists() {
        String text = promises();
        Set<String> references = new LinkedHashSet<>();
        Matcher spans = CODE_SPAN.matcher(text);
        while (spans.find()) {
            String span = spans.group(1).trim();
            if (METHOD_REFERENCE.matcher(span).matches()) {
                references.add(span);
            }
        }
        for (Row row : rows(text)) {
            references.addAll(testReferences(row.tests()));
        }
        assertThat(references)
                .as("test references in %s", PROMISES.toAbsolutePath().normalize())
                .isNotEmpty();

        Map<String, List<Path>> testSources = testSources();
        List<String> missing = new ArrayList<>();
        for (String reference : references) {
            String problem = problem(reference, testSources);
            if (problem != null) {
                missing.add("`" + reference + "`: " + problem);
            }
        }
        assertThat(missing)
                .withFailMessage(
                        "%s names %d test(s) that do not exist (looked under */src/test/java of %s):%n  %s",
                        PROMISES.toAbsolutePath().normalize(),
                        missing.size(),
                        ROOT.toAbsolutePath().normalize(),
                        String.join(System.lineSeparator() + "  ", missing))
                .isEmpty();
    }

    @Test
    void everyPromiseNamesATestOrSaysNoTest() {
        List<Row> rows = rows(promises());
        assertThat(rows)
                .as(
                        "promise rows (table rows under a header with a test column) in %s",
                        PROMISES.toAbsolutePath().normalize())
                .isNotEmpty();
        List<String> untested = new ArrayList<>();
        for (Row row : rows) {
            if (testReferences(row.tests()).isEmpty() && !row.tests().contains(NO_TEST)) {
                untested.add("line " + row.line() + ": " + row.promise());
            }
        }
        assertThat(untested)
                .withFailMessage(
                        "%s has %d row(s) whose test column names no `Class#method` and does not say %s:%n  %s",
                        PROMISES.toAbsolutePath().normalize(),
                        untested.size(),
                        NO_TEST,
                        String.join(System.lineSeparator() + "  ", untested))
                .isEmpty();
    }

    private static String promises() {
        assertThat(Files.isRegularFile(PROMISES))
                .withFailMessage(
                        "%s not found (resolved from %s); this test expects to run in the examples module's"
                                + " directory, as surefire does",
                        PROMISES, Path.of("").toAbsolutePath())
                .isTrue();
        try {
            return Files.readString(PROMISES, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Body rows of every table whose header has a column mentioning "test". */
    private static List<Row> rows(String text) {
        List<String> lines = text.lines().toList();
        List<Row> rows = new ArrayList<>();
        int testColumn = -1;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).trim();
            if (!line.startsWith("|")) {
                testColumn = -1; // the table, if any, ended
                continue;
            }
            if (SEPARATOR_ROW.matcher(line).matches()) {
                continue;
            }
            List<String> cells = cells(line);
            boolean header = i + 1 < lines.size()
                    && SEPARATOR_ROW.matcher(lines.get(i + 1).trim()).matches();
            if (header) {
                testColumn = -1;
                for (int c = 0; c < cells.size() && testColumn < 0; c++) {
                    if (cells.get(c).toLowerCase(Locale.ROOT).contains("test")) {
                        testColumn = c;
                    }
                }
            } else if (testColumn >= 0) {
                String tests = testColumn < cells.size() ? cells.get(testColumn) : "";
                rows.add(new Row(i + 1, cells.isEmpty() ? line : cells.get(0), tests));
            }
        }
        return rows;
    }

    /** A table row's cells, split on pipes that are not escaped as {@code \|}. */
    private static List<String> cells(String line) {
        List<String> cells = new ArrayList<>();
        StringBuilder cell = new StringBuilder();
        String inner = line.substring(1, line.endsWith("|") && line.length() > 1 ? line.length() - 1 : line.length());
        for (int i = 0; i < inner.length(); i++) {
            char ch = inner.charAt(i);
            if (ch == '\\' && i + 1 < inner.length() && inner.charAt(i + 1) == '|') {
                cell.append('|');
                i++;
            } else if (ch == '|') {
                cells.add(cell.toString().trim());
                cell.setLength(0);
            } else {
                cell.append(ch);
            }
        }
        cells.add(cell.toString().trim());
        return cells;
    }

    /** The backticked {@code Class#method} or {@code Class} references in a test cell. */
    private static List<String> testReferences(String cell) {
        List<String> references = new ArrayList<>();
        Matcher spans = CODE_SPAN.matcher(cell);
        while (spans.find()) {
            String span = spans.group(1).trim();
            if (METHOD_REFERENCE.matcher(span).matches()
                    || CLASS_REFERENCE.matcher(span).matches()) {
                references.add(span);
            }
        }
        return references;
    }

    /** Every {@code *.java} under {@code <root>/<module>/src/test/java}, by simple class name. */
    private static Map<String, List<Path>> testSources() {
        Map<String, List<Path>> byName = new TreeMap<>();
        try (Stream<Path> modules = Files.list(ROOT)) {
            for (Path module : modules.filter(Files::isDirectory).toList()) {
                Path tests = module.resolve("src").resolve("test").resolve("java");
                if (!Files.isDirectory(tests)) {
                    continue;
                }
                try (Stream<Path> files = Files.walk(tests)) {
                    files.filter(f -> f.getFileName().toString().endsWith(".java"))
                            .forEach(f -> byName.computeIfAbsent(
                                            f.getFileName().toString().replaceFirst("\\.java$", ""),
                                            n -> new ArrayList<>())
                                    .add(f));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertThat(byName)
                .as(
                        "test sources under */src/test/java of %s",
                        ROOT.toAbsolutePath().normalize())
                .isNotEmpty();
        return byName;
    }

    /** Why {@code reference} does not resolve, or null if it does. */
    private static String problem(String reference, Map<String, List<Path>> testSources) {
        int hash = reference.indexOf('#');
        String className = hash < 0 ? reference : reference.substring(0, hash);
        List<Path> files = testSources.get(className);
        if (files == null) {
            return "no " + className + ".java under any */src/test/java";
        }
        if (hash < 0) {
            return null;
        }
        String method = reference.substring(hash + 1);
        Pattern declaration = Pattern.compile("\\bvoid\\s+" + Pattern.quote(method) + "\\s*\\(");
        for (Path file : files) {
            try {
                if (declaration
                        .matcher(Files.readString(file, StandardCharsets.UTF_8))
                        .find()) {
                    return null;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return "no method 'void " + method + "(' in " + files;
    }
}
