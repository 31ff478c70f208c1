package dev.tina.tools.dist;

import java.util.List;

/**
 * The Java modules a distribution's runtime holds: the lists {@code tina dist} hands to {@code jlink},
 * one per jar set. Each is what {@code jdeps --print-module-deps} finds in the jars that distribution
 * ships ({@code DistributionIT} checks both, so a dependency that needs another module fails the build
 * instead of a user's run). {@code jlink} adds what these require (java.xml, java.logging, …).
 */
public final class RuntimeModules {
    private RuntimeModules() {}

    /** The full distribution's modules. */
    public static final List<String> MODULES = List.of(
            "java.base",
            "java.compiler",      // Janino (Symja's compiler), DJL, Error Prone's annotations
            "java.desktop",       // java.awt (charts, bench scaling's plot) and java.beans (Jinjava's templates, Jackson)
            "java.instrument",
            "java.net.http",
            "java.rmi",           // JAS (Symja's)
            "java.scripting",     // commons-text, matheclipse-external (Symja's)
            "java.sql",           // Jackson's java.sql types, Arrow
            "jdk.attach",
            "jdk.httpserver",     // tina serve
            "jdk.incubator.vector", // the sampler's vector passes (bin/tina adds it with --add-modules)
            "jdk.jdi",
            "jdk.management",     // peak RSS and CPU time in the benchmarks
            "jdk.unsupported");   // sun.misc.Unsafe (protobuf, Arrow, Kryo)

    /** The slim distribution's modules: its jars (no Symja and what only it reaches) need neither java.rmi nor java.scripting. */
    public static final List<String> SLIM = MODULES.stream().filter(m -> !m.equals("java.rmi") && !m.equals("java.scripting")).toList();

    /** The list for a distribution with ({@code slim}) or without the slim profile's cuts. */
    public static List<String> of(boolean slim) {
        return slim ? SLIM : MODULES;
    }
}
