package dev.tina.tools.dist;

import dev.tina.export.AtomicOutputDirectory;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.spi.ToolProvider;

/**
 * What a set of jars needs, by {@code jdeps}: the JDK modules, and which jar uses which. The jars are
 * analysed as class-path jars (as the distribution runs them): copies without {@code module-info}, since
 * jdeps rejects some modular jars on their own (bytedeco's API jars name packages that live in their
 * platform jars).
 */
public final class JarDependencies {
    private JarDependencies() {}

    /** The JDK modules the jars reference ({@code jdeps --print-module-deps}). */
    public static Set<String> modules(List<Path> jars) throws IOException {
        return withPlainCopies(jars, copies -> {
            List<String> args = new ArrayList<>(List.of("--multi-release", "25", "--ignore-missing-deps", "--print-module-deps", "-q"));
            copies.forEach(c -> args.add(c.toString()));
            String out = jdeps(args);
            String last = out.strip().lines().reduce((a, b) -> b).orElse("");
            return new TreeSet<>(Arrays.asList(last.split(",")));
        });
    }

    /** jar file name → the file names of the other jars it references ({@code jdeps -s}). */
    public static Map<String, Set<String>> jarGraph(List<Path> jars) throws IOException {
        return withPlainCopies(jars, copies -> {
            List<String> args = new ArrayList<>(List.of("--multi-release", "25", "-s"));
            copies.forEach(c -> args.add(c.toString()));
            Map<String, Set<String>> graph = new TreeMap<>();
            for (Path j : jars) graph.put(j.getFileName().toString(), new LinkedHashSet<>());
            for (String line : jdeps(args).split("\n")) {
                // "a.jar -> /tmp/…/b.jar", "a.jar -> java.base", "a.jar -> not found"
                String[] ab = line.strip().split(" -> ");
                if (ab.length != 2 || !graph.containsKey(ab[0]) || !ab[1].endsWith(".jar")) continue;
                String to = Path.of(ab[1].strip()).getFileName().toString();
                if (graph.containsKey(to)) graph.get(ab[0]).add(to);
            }
            return graph;
        });
    }

    private interface Analysis<T> { T run(List<Path> copies) throws IOException; }

    private static <T> T withPlainCopies(List<Path> jars, Analysis<T> analysis) throws IOException {
        Path dir = Files.createTempDirectory("tina-jdeps-");
        try {
            List<Path> copies = new ArrayList<>();
            for (Path j : jars) {
                Path c = dir.resolve(j.getFileName());
                JarRepacker.copyWithout(j, c, name -> name.equals("module-info.class") || name.matches("META-INF/versions/\\d+/module-info\\.class"));
                copies.add(c);
            }
            return analysis.run(copies);
        } finally {
            AtomicOutputDirectory.deleteRecursively(dir);
        }
    }

    private static String jdeps(List<String> args) {
        ToolProvider jdeps = ToolProvider.findFirst("jdeps").orElseThrow(() -> new IllegalArgumentException(
                "jdeps is not in this Java runtime: run this from a JDK 25 (./tina from a checkout)"));
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = jdeps.run(new PrintWriter(out), new PrintWriter(err), args.toArray(String[]::new));
        if (rc != 0) throw new IllegalStateException("jdeps failed (exit " + rc + "): " + err + out);
        return out.toString();
    }
}
